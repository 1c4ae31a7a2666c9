import { defineCommand } from "citty";
import { notYet } from "./_pending.ts";

export default defineCommand({
  meta: { name: "status", description: "(in progress)" },
  run: () => notYet("status"),
});
