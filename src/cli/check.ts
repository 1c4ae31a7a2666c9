import { existsSync } from "node:fs";
import { networkInterfaces } from "node:os";
import { defineCommand } from "citty";
import { ConfigError, formatEffectiveConfig, formatProblem, loadConfig, type ConfigProblem } from "../conf/index.ts";
import { describeDiscovery } from "./_network.ts";

function printWarnings(file: string, warnings: readonly ConfigProblem[]): void {
  for (const w of warnings) {
    const where = w.line > 0 ? `${file}:${w.line}:${w.col}` : file;
    process.stderr.write(`${where}: warning: ${w.path ? `${w.path}: ` : ""}${w.message}\n`);
  }
}

/**
 * Go paqet fails at load time when the interface does not exist. `check` only warns, so a config
 * can be checked on another machine than the one that will run it.
 */
function interfaceExists(name: string): boolean {
  if (process.platform === "linux") return existsSync(`/sys/class/net/${name}`);
  return Object.hasOwn(networkInterfaces(), name);
}

export default defineCommand({
  meta: { name: "check", description: "Validate a configuration file and print the effective settings (secrets masked)" },
  args: {
    config: {
      type: "string",
      alias: "c",
      default: "config.yaml",
      valueHint: "FILE",
      description: "path of the YAML configuration file",
    },
  },
  async run({ args }) {
    const file = String(args.config);
    try {
      const { config, warnings } = loadConfig(file);
      printWarnings(file, warnings);
      for (const line of await describeDiscovery(config)) process.stderr.write(`${file}: note: ${line}\n`);
      if (process.platform !== "win32" && config.network.interface !== "" && !interfaceExists(config.network.interface)) {
        process.stderr.write(`${file}: warning: network.interface: no interface named '${config.network.interface}' on this host; run would fail here\n`);
      }
      process.stdout.write(`ok\n${formatEffectiveConfig(config)}`);
      return 0;
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      for (const p of err.problems) process.stderr.write(`${formatProblem(file, p)}\n`);
      printWarnings(file, err.warnings);
      const n = err.problems.length;
      process.stderr.write(`${file}: ${n} problem${n === 1 ? "" : "s"}\n`);
      return 1;
    }
  },
});
