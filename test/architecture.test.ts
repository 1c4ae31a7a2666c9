/**
 * Layers import only downward. This reads every import in src/ and ffi/ and fails on one that
 * points up or sideways, on `conf` imported below `tunnel`, and on `bun:ffi` outside ffi/.
 */
import { describe, expect, test } from "bun:test";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve, sep } from "node:path";

const ROOT = resolve(import.meta.dir, "..");

/** Rank per top-level module; an import must go to a strictly lower rank (or stay in its own folder). */
const RANK: Record<string, number> = {
  lib: 0,
  packet: 1,
  ffi: 1,
  socket: 2,
  kcp: 3,
  smux: 3,
  conf: 4,
  tunnel: 5,
  client: 6,
  server: 6,
  socks5: 7,
  forward: 7,
  cli: 8,
  main: 9,
};

function walk(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...walk(p));
    else if (/\.(ts|tsx|js|mjs)$/.test(name)) out.push(p);
  }
  return out;
}

/** The module a file belongs to: `src/<layer>/...`, `src/main.ts` or `ffi/...`. */
export function moduleOf(file: string): string | undefined {
  const rel = relative(ROOT, file).split(sep);
  if (rel[0] === "ffi") return "ffi";
  if (rel[0] !== "src") return undefined;
  if (rel.length === 2) return rel[1] === "main.ts" ? "main" : undefined;
  return rel[1];
}

export function importsOf(source: string): string[] {
  const specs: string[] = [];
  const re = /(?:^|[\s;])(?:import|export)\s[^'"`]*?from\s*["']([^"']+)["']|(?:^|[\s;])import\s*["']([^"']+)["']|import\(\s*["']([^"']+)["']\s*\)|require\(\s*["']([^"']+)["']\s*\)/g;
  for (const m of source.matchAll(re)) specs.push((m[1] ?? m[2] ?? m[3] ?? m[4])!);
  return specs;
}

export function violations(files: { path: string; source: string }[]): string[] {
  const problems: string[] = [];
  for (const { path, source } of files) {
    const from = moduleOf(path);
    if (!from) continue;
    for (const spec of importsOf(source)) {
      if (spec === "bun:ffi") {
        if (from !== "ffi") problems.push(`${relative(ROOT, path)}: imports bun:ffi outside ffi/`);
        continue;
      }
      if (!spec.startsWith(".")) continue;
      const to = moduleOf(resolve(dirname(path), spec));
      if (!to) {
        problems.push(`${relative(ROOT, path)}: imports ${spec}, outside src/ and ffi/`);
        continue;
      }
      if (to === from) continue;
      const rf = RANK[from];
      const rt = RANK[to];
      if (rf === undefined || rt === undefined) {
        problems.push(`${relative(ROOT, path)}: unknown layer ${rf === undefined ? from : to}`);
      } else if (rt >= rf) {
        problems.push(`${relative(ROOT, path)}: ${from} imports ${to} (${spec}), which is not below it`);
      }
    }
  }
  return problems;
}

describe("architecture", () => {
  const files = [...walk(join(ROOT, "src")), ...walk(join(ROOT, "ffi"))].map((path) => ({
    path,
    source: readFileSync(path, "utf8"),
  }));

  test("every import points down the layer order", () => {
    expect(violations(files)).toEqual([]);
  });

  test("every folder under src/ is a known layer", () => {
    const layers = readdirSync(join(ROOT, "src")).filter((n) => statSync(join(ROOT, "src", n)).isDirectory());
    expect(layers.filter((l) => RANK[l] === undefined)).toEqual([]);
  });

  test("the checker catches an upward import, conf below tunnel, and bun:ffi outside ffi/", () => {
    const fake = (p: string, source: string) => ({ path: join(ROOT, p), source });
    const found = violations([
      fake("src/packet/x.ts", 'import { a } from "../kcp/core.ts";'),
      fake("src/kcp/x.ts", 'import type { Config } from "../conf/index.ts";'),
      fake("src/kcp/y.ts", 'import { x } from "../smux/session.ts";'),
      fake("src/socket/x.ts", 'import { dlopen } from "bun:ffi";'),
      fake("src/socket/ok.ts", 'import { parse } from "../packet/tcp.ts";\nimport { h } from "../../ffi/pcap.ts";'),
      fake("src/client/x.ts", 'const m = await import("../socks5/server.ts");'),
    ]);
    expect(found).toHaveLength(5);
    expect(found.join("\n")).toContain("packet imports kcp");
    expect(found.join("\n")).toContain("kcp imports conf");
    expect(found.join("\n")).toContain("kcp imports smux");
    expect(found.join("\n")).toContain("bun:ffi outside ffi/");
    expect(found.join("\n")).toContain("client imports socks5");
  });
});
