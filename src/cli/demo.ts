import { defineCommand } from "citty";
import { notYet } from "./_pending.ts";

export default defineCommand({
  meta: { name: "demo", description: "(in progress)" },
  run: () => notYet("demo"),
});
