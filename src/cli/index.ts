/**
 * The root command. Subcommands load lazily so `paqet version` never pays for KCP or libpcap.
 */
import { defineCommand } from "citty";
import { VERSION } from "../lib/version.ts";

export const main = defineCommand({
  meta: {
    name: "paqet",
    version: VERSION,
    description: "Raw-packet KCP proxy, wire-compatible with Go paqet v1.0.0-alpha.21",
  },
  subCommands: {
    run: () => import("./run.ts").then((m) => m.default),
    check: () => import("./check.ts").then((m) => m.default),
    ping: () => import("./ping.ts").then((m) => m.default),
    dump: () => import("./dump.ts").then((m) => m.default),
    secret: () => import("./secret.ts").then((m) => m.default),
    version: () => import("./version.ts").then((m) => m.default),
    iface: () => import("./iface.ts").then((m) => m.default),
    status: () => import("./status.ts").then((m) => m.default),
    demo: () => import("./demo.ts").then((m) => m.default),
    firewall: () => import("./firewall.ts").then((m) => m.default),
  },
});
