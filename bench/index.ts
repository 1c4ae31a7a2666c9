/**
 * `bun run bench [section ...]`: runs each benchmark section in order (all when none is named).
 *
 * A section is a module in bench/ exporting `bench(): Promise<void>`. Every section measures its own
 * baseline in the same run and prints the ratio, so numbers from different machines or runs are
 * never compared against constants.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";

const SECTIONS = ["packet", "crypt", "kcp", "smux", "stack", "pcap", "tunnel", "users"] as const;

const wanted = process.argv.slice(2);
for (const name of wanted) {
  if (!(SECTIONS as readonly string[]).includes(name)) {
    console.error(`bench: unknown section "${name}"; known: ${SECTIONS.join(", ")}`);
    process.exit(1);
  }
}

let failed = 0;
for (const name of wanted.length > 0 ? wanted : SECTIONS) {
  const file = join(import.meta.dir, `${name}.ts`);
  if (!existsSync(file)) {
    console.log(`\n== ${name}: not present in this checkout`);
    continue;
  }
  console.log(`\n== ${name}`);
  try {
    const mod = (await import(file)) as { bench?: () => Promise<void> };
    if (typeof mod.bench !== "function") throw new Error(`bench/${name}.ts exports no bench()`);
    await mod.bench();
  } catch (err) {
    failed++;
    console.error(`bench ${name} failed:`, err);
  }
}
process.exit(failed > 0 ? 1 : 0);
