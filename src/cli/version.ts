import { defineCommand } from "citty";
import { errorMessage } from "../lib/errors.ts";
import { BUILD_TIME, COMMIT, GIT_TAG, VERSION } from "../lib/version.ts";

/**
 * Go paqet's six lines (values from column 13), with `Go Version:` replaced by `Runtime:` (the
 * Bun version) and a seventh line for the libpcap that this host would load.
 */
export async function versionLines(): Promise<string[]> {
  const rows: [string, string][] = [
    ["Version:", VERSION],
    ["Git Tag:", GIT_TAG],
    ["Git Commit:", COMMIT],
    ["Build Time:", BUILD_TIME],
    ["Runtime:", `bun ${Bun.version}`],
    ["Platform:", `${process.platform}/${process.arch}`],
    ["libpcap:", await libpcapLine()],
  ];
  return rows.map(([label, value]) => `${label.padEnd(12)}${value}`);
}

async function libpcapLine(): Promise<string> {
  try {
    const ffi = await import("../../ffi/index.ts");
    return ffi.libpcapVersion();
  } catch (err) {
    return `not loaded (${errorMessage(err).split("\n")[0]})`;
  }
}

export default defineCommand({
  meta: { name: "version", description: "Print version, build, runtime and libpcap information" },
  async run() {
    process.stdout.write(`${(await versionLines()).join("\n")}\n`);
    return 0;
  },
});
