import { defineCommand } from "citty";
import { notYet } from "./_pending.ts";

export default defineCommand({
  meta: { name: "iface", description: "(in progress)" },
  run: () => notYet("iface"),
});
