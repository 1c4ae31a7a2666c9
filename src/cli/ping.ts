import { defineCommand } from "citty";
import { notYet } from "./_pending.ts";

export default defineCommand({
  meta: { name: "ping", description: "(in progress)" },
  run: () => notYet("ping"),
});
