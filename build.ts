#!/usr/bin/env bun
/**
 * Single-file binaries: `bun run build.ts [--target <name>[,<name>]] [--all] [--outdir dist]`.
 *
 * Output is `<outdir>/paqet-<os>-<arch>[.exe]`. Version (package.json), commit, tag and build time
 * are injected with `--define` (src/lib/version.ts). The capture worker is an extra entrypoint:
 * without it the binary builds fine and then fails at run time resolving the worker
 * (bun-probe.md §5). Cross targets make Bun fetch that platform's runtime once (npm registry).
 * When the host target was built, its `version` output is printed as a smoke test.
 */
import { existsSync, mkdirSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import { $ } from "bun";

const TARGETS = {
  "linux-x64": "bun-linux-x64",
  "linux-arm64": "bun-linux-arm64",
  "darwin-x64": "bun-darwin-x64",
  "darwin-arm64": "bun-darwin-arm64",
  "windows-x64": "bun-windows-x64",
} as const;
type Target = keyof typeof TARGETS;

const ROOT = import.meta.dir;
const WORKER = "ffi/capture-worker.ts";

function hostTarget(): Target {
  const os = process.platform === "win32" ? "windows" : process.platform;
  const name = `${os}-${process.arch}`;
  if (!(name in TARGETS)) throw new Error(`no build target for this host (${name}); pick one with --target`);
  return name as Target;
}

function usage(exitCode: number): never {
  const text = `usage: bun run build.ts [--target <${Object.keys(TARGETS).join("|")}>[,...]] [--all] [--outdir DIR]\n`;
  (exitCode === 0 ? process.stdout : process.stderr).write(text);
  process.exit(exitCode);
}

function parseArgs(argv: string[]): { targets: Target[]; outdir: string } {
  const targets = new Set<Target>();
  let outdir = join(ROOT, "dist");
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const [flag, inline] = arg.includes("=") ? [arg.slice(0, arg.indexOf("=")), arg.slice(arg.indexOf("=") + 1)] : [arg, undefined];
    const value = () => inline ?? argv[++i] ?? usage(1);
    if (flag === "--all") for (const t of Object.keys(TARGETS) as Target[]) targets.add(t);
    else if (flag === "--target") {
      for (const t of value().split(",")) {
        if (!(t in TARGETS)) {
          process.stderr.write(`unknown target "${t}"\n`);
          usage(1);
        }
        targets.add(t as Target);
      }
    } else if (flag === "--outdir") outdir = resolve(value());
    else if (flag === "-h" || flag === "--help") usage(0);
    else {
      process.stderr.write(`unknown argument "${arg}"\n`);
      usage(1);
    }
  }
  if (targets.size === 0) targets.add(hostTarget());
  return { targets: [...targets], outdir };
}

async function git(...args: string[]): Promise<string> {
  const r = await $`git ${args}`.cwd(ROOT).quiet().nothrow();
  return r.exitCode === 0 ? r.stdout.toString().trim() : "";
}

async function buildInfo(): Promise<Record<string, string>> {
  const pkg = (await Bun.file(join(ROOT, "package.json")).json()) as { version: string };
  const now = new Date().toISOString();
  return {
    PAQET_BUILD_VERSION: pkg.version,
    PAQET_BUILD_COMMIT: (await git("rev-parse", "--short", "HEAD")) || "unknown",
    PAQET_BUILD_TAG: (await git("describe", "--exact-match", "--tags", "HEAD")) || "unknown",
    PAQET_BUILD_TIME: `${now.slice(0, 10)} ${now.slice(11, 19)} UTC`,
  };
}

export function outfileFor(outdir: string, target: Target): string {
  return join(outdir, `paqet-${target}${target.startsWith("windows") ? ".exe" : ""}`);
}

async function main(): Promise<void> {
  const { targets, outdir } = parseArgs(process.argv.slice(2));
  mkdirSync(outdir, { recursive: true });
  const info = await buildInfo();
  const defines = Object.entries(info).flatMap(([k, v]) => ["--define", `${k}=${JSON.stringify(v)}`]);
  const entrypoints = ["src/main.ts"];
  if (existsSync(join(ROOT, WORKER))) entrypoints.push(WORKER);
  else process.stderr.write(`note: ${WORKER} not found; building without the capture worker\n`);

  process.stdout.write(`paqet ${info.PAQET_BUILD_VERSION} (${info.PAQET_BUILD_COMMIT}), entrypoints: ${entrypoints.join(" ")}\n`);
  for (const target of targets) {
    const outfile = outfileFor(outdir, target);
    const started = performance.now();
    const r = await $`${process.execPath} build --compile --target=${TARGETS[target]} ${entrypoints} --outfile ${outfile} ${defines}`
      .cwd(ROOT)
      .quiet()
      .nothrow();
    if (r.exitCode !== 0) {
      process.stderr.write(`build ${target} failed:\n${r.stderr.toString()}${r.stdout.toString()}`);
      process.exit(1);
    }
    const mb = (statSync(outfile).size / 1048576).toFixed(1);
    process.stdout.write(`built ${outfile} (${mb} MiB, ${((performance.now() - started) / 1000).toFixed(1)} s)\n`);
  }

  const host = (() => {
    try {
      return hostTarget();
    } catch {
      return undefined;
    }
  })();
  if (host && targets.includes(host)) {
    const r = await $`${outfileFor(outdir, host)} version`.quiet().nothrow();
    process.stdout.write(`\n$ ${outfileFor(outdir, host)} version\n${r.stdout.toString()}${r.stderr.toString()}`);
    if (r.exitCode !== 0) {
      process.stderr.write(`the host binary failed to run (exit ${r.exitCode})\n`);
      process.exit(1);
    }
  }
}

if (import.meta.main) await main();
