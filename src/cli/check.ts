import { defineCommand } from "citty";
import { notYet } from "./_pending.ts";

export default defineCommand({
  meta: { name: "check", description: "(in progress)" },
  run: () => notYet("check"),
});
