/**
 * Run inside a namespace by zeroconf.test.ts: parses the config file given as argv[2], resolves its
 * network fields with this host's routes and neighbours, and prints one JSON line.
 */
import { readFileSync } from "node:fs";
import { resolveNetwork } from "../src/cli/_network.ts";
import { parseConfig } from "../src/conf/index.ts";
import { isPaqetError } from "../src/lib/errors.ts";

const { config } = parseConfig(readFileSync(process.argv[2]!, "utf8"), process.argv[2]);
const lines: string[] = [];
try {
  const r = await resolveNetwork(config, { log: (l) => lines.push(l) });
  process.stdout.write(`${JSON.stringify({ network: r.network, discovered: r.discovered, log: lines })}\n`);
} catch (err) {
  if (!isPaqetError(err)) throw err;
  process.stdout.write(`${JSON.stringify({ error: { code: err.code, message: err.message } })}\n`);
}
