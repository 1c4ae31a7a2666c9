/** The CLI as a user runs it: `bun src/main.ts ...` in a subprocess, checking output and exit codes. */
import { describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { defineCommand } from "citty";
import { normalizeArgs, runCli } from "../src/cli/main.ts";
import { runPaqet } from "./helpers/cli.ts";

const ROOT = join(import.meta.dir, "..");
const FIX = join(ROOT, "test", "fixtures", "conf");

const paqet = (...args: string[]) => runPaqet(args);

describe("paqet version", () => {
  test("prints the labelled lines with values from column 13", async () => {
    const r = await paqet("version");
    expect(r.code).toBe(0);
    const lines = r.stdout.trimEnd().split("\n");
    expect(lines.map((l) => l.slice(0, 12).trim())).toEqual(["Version:", "Git Tag:", "Git Commit:", "Build Time:", "Runtime:", "Platform:", "libpcap:"]);
    for (const l of lines) expect(l[12]).not.toBe(" ");
    expect(lines[4]).toBe(`Runtime:    bun ${Bun.version}`);
    expect(lines[5]).toBe(`Platform:   ${process.platform}/${process.arch}`);
    expect(lines[6]).toMatch(/^libpcap: {4}(libpcap version \d+\.\d+|not loaded \(.+\))/);
  });
});

describe("paqet secret", () => {
  test("64 lowercase hex characters and a newline, different each time", async () => {
    const a = await paqet("secret");
    const b = await paqet("secret");
    expect(a.code).toBe(0);
    expect(a.stdout).toMatch(/^[0-9a-f]{64}\n$/);
    expect(b.stdout).toMatch(/^[0-9a-f]{64}\n$/);
    expect(a.stdout).not.toBe(b.stdout);
    expect(a.stderr).toBe("");
  });
});

describe("paqet check", () => {
  test("a valid config: ok plus the effective config with the key masked", async () => {
    const r = await paqet("check", "-c", join(FIX, "go-aes-client.yaml"));
    expect(r.code).toBe(0);
    expect(r.stdout).toStartWith("ok\n");
    expect(r.stdout).toContain("rcvwnd: 512");
    expect(r.stdout).toContain(`key: "********"`);
    expect(r.stdout).not.toContain("vector-key-1");
  });

  test("every accepted spelling of the flag", async () => {
    const file = join(FIX, "go-aes-server.yaml");
    for (const args of [["-c", file], [`-c${file}`], [`-c=${file}`], ["--config", file], [`--config=${file}`]]) {
      const r = await paqet("check", ...args);
      expect(r.code).toBe(0);
      expect(r.stdout).toContain("role: server");
    }
  });

  test("an invalid config: every problem with file:line:col, exit 1", async () => {
    const file = join(FIX, "ten-mistakes.yaml");
    const r = await paqet("check", "-c", file);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe("");
    const problems = r.stderr.split("\n").filter((l) => /:\d+:\d+: /.test(l));
    expect(problems.length).toBe(10);
    for (const p of problems) expect(p).toStartWith(`${file}:`);
    expect(r.stderr).toContain(`${file}: 10 problems`);
  });

  test("warnings go to stderr with their position and do not fail the check", async () => {
    const dir = mkdtempSync(join(tmpdir(), "paqet-cli-"));
    const file = join(dir, "w.yaml");
    writeFileSync(file, readFileSync(join(FIX, "go-aes-client.yaml"), "utf8").replace('    mode: "fast"', '    mode: "fast"\n    kye: "x"'));
    const r = await paqet("check", "-c", file);
    rmSync(dir, { recursive: true, force: true });
    expect(r.code).toBe(0);
    expect(r.stderr).toContain(`${file}:18:5: warning: transport.kcp.kye: unknown key, ignored (did you mean "key"?)`);
  });

  test("a missing file: exit 1 with Go's wording", async () => {
    const r = await paqet("check", "-c", "/nonexistent/c.yaml");
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("open /nonexistent/c.yaml: no such file or directory");
  });

  test("the examples pass", async () => {
    for (const name of ["client", "server"]) {
      const r = await paqet("check", "-c", join(ROOT, "examples", `${name}.yaml`));
      expect(r.code).toBe(0);
    }
  });
});

describe("global behaviour", () => {
  test("no command prints help and exits 0", async () => {
    const r = await paqet();
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("USAGE");
    expect(r.stdout).toContain("check");
  });

  test("unknown command: error and usage on stderr, exit 1", async () => {
    const r = await paqet("frobnicate");
    expect(r.code).toBe(1);
    expect(r.stderr).toStartWith('Error: unknown command "frobnicate" for "paqet"\n');
    expect(r.stderr).toContain("USAGE");
    expect(r.stdout).toBe("");
  });

  test("unknown long and short flags on a command, exit 1", async () => {
    const long = await paqet("check", "--frob");
    expect(long.code).toBe(1);
    expect(long.stderr).toStartWith("Error: unknown flag: --frob\n");
    expect(long.stderr).toContain("--config");
    const short = await paqet("secret", "-x");
    expect(short.code).toBe(1);
    expect(short.stderr).toStartWith("Error: unknown shorthand flag: 'x' in -x\n");
  });

  test("flags on the root (there are none, not even --version), exit 1", async () => {
    const r = await paqet("--version");
    expect(r.code).toBe(1);
    expect(r.stderr).toStartWith("Error: unknown flag: --version\n");
  });

  test("a flag without its value, exit 1", async () => {
    const r = await paqet("check", "-c");
    expect(r.code).toBe(1);
    expect(r.stderr).toStartWith("Error: flag needs an argument: 'c' in -c\n");
  });

  test("--help and help <command> print that command's usage, exit 0", async () => {
    for (const args of [["check", "--help"], ["help", "check"], ["check", "-h"]]) {
      const r = await paqet(...args);
      expect(r.code).toBe(0);
      expect(r.stdout).toContain("paqet check");
      expect(r.stdout).toContain("-c, --config");
    }
  });

  test("extra positional arguments are ignored, as in Go", async () => {
    const r = await paqet("secret", "extra");
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^[0-9a-f]{64}\n$/);
  });
});

describe("normalizeArgs", () => {
  const defs = {
    config: { type: "string", alias: "c" },
    json: { type: "boolean" },
    payload_text: { type: "string" },
    file: { type: "positional", required: false },
  } as const;

  test("rewrites accepted forms to --name[=value]", () => {
    expect(normalizeArgs(["-c", "a", "--json", "--payload-text", "-5", "pos"], defs)).toEqual({
      ok: true,
      argv: ["--config=a", "--json", "--payload_text=-5", "pos"],
    });
    expect(normalizeArgs(["--no-json", "--json=false", "--", "--anything"], defs)).toEqual({
      ok: true,
      argv: ["--no-json", "--json=false", "--", "--anything"],
    });
  });

  test("rejects unknown names, bad negations and missing values", () => {
    expect(normalizeArgs(["--nope"], defs)).toEqual({ ok: false, error: "unknown flag: --nope" });
    expect(normalizeArgs(["--no-config"], defs)).toEqual({ ok: false, error: "unknown flag: --no-config" });
    expect(normalizeArgs(["--config"], defs)).toEqual({ ok: false, error: "flag needs an argument: --config" });
    expect(normalizeArgs(["-jc"], defs)).toEqual({ ok: false, error: "unknown shorthand flag: 'j' in -jc" });
  });
});

describe("nested subcommands (in-process, with a test root)", () => {
  const seen: unknown[] = [];
  const root = defineCommand({
    meta: { name: "paqet" },
    subCommands: {
      demo: defineCommand({
        meta: { name: "demo" },
        args: { verbose: { type: "boolean", alias: "v" } },
        subCommands: {
          start: defineCommand({
            meta: { name: "start" },
            args: { port: { type: "string", alias: "p" } },
            run: ({ args }) => {
              seen.push(args.port);
              return 7;
            },
          }),
        },
      }),
    },
  });

  async function quietly(argv: string[]): Promise<{ code: number; err: string }> {
    const write = process.stderr.write;
    const outWrite = process.stdout.write;
    let err = "";
    process.stderr.write = ((chunk: string) => ((err += chunk), true)) as typeof write;
    process.stdout.write = (() => true) as typeof outWrite;
    try {
      return { code: await runCli(argv, root), err };
    } finally {
      process.stderr.write = write;
      process.stdout.write = outWrite;
      process.exitCode = 0;
    }
  }

  test("flags are checked per level and the leaf's return value is the exit code", async () => {
    expect((await quietly(["demo", "-v", "start", "-p", "9"])).code).toBe(7);
    expect(seen).toEqual(["9"]);
    const wrongLevel = await quietly(["demo", "-p", "9", "start"]);
    expect(wrongLevel.code).toBe(1);
    expect(wrongLevel.err).toStartWith("Error: unknown shorthand flag: 'p' in -p\n");
    const unknown = await quietly(["demo", "stop"]);
    expect(unknown.code).toBe(1);
    expect(unknown.err).toStartWith('Error: unknown command "stop" for "paqet demo"\n');
  });
});
