import { defineCommand } from "citty";
import { notYet } from "./_pending.ts";

export default defineCommand({
  meta: { name: "dump", description: "(in progress)" },
  run: () => notYet("dump"),
});
