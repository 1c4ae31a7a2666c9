import { defineCommand } from "citty";
import { notYet } from "./_pending.ts";

export default defineCommand({
  meta: { name: "version", description: "(in progress)" },
  run: () => notYet("version"),
});
