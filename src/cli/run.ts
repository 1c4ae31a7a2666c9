import { defineCommand } from "citty";
import { notYet } from "./_pending.ts";

export default defineCommand({
  meta: { name: "run", description: "(in progress)" },
  run: () => notYet("run"),
});
