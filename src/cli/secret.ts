import { defineCommand } from "citty";
import { notYet } from "./_pending.ts";

export default defineCommand({
  meta: { name: "secret", description: "(in progress)" },
  run: () => notYet("secret"),
});
