/**
 * Entry for every CLI run: Go paqet's global behaviour (paqet-app.md §1.1) on top of citty.
 *
 * citty ignores flags it does not know, so each command's argv is checked here first against the
 * command's declared args; unknown commands and flags print usage and exit 1, as cobra does.
 * Accepted flags are rewritten to `--name=value` so citty sees one unambiguous form.
 * A command's `run` may return a number: it becomes the exit code.
 */
import { renderUsage, runCommand, type ArgsDef, type CommandDef } from "citty";
import { errorMessage } from "../lib/errors.ts";
import { main } from "./index.ts";

type AnyCommand = CommandDef<ArgsDef>;

const HELP_FLAGS = new Set(["-h", "--help"]);

export async function runCli(argv: readonly string[]): Promise<number> {
  const code = await dispatch([...argv]);
  process.exitCode = code;
  return code;
}

async function dispatch(argv: string[]): Promise<number> {
  const root = main as AnyCommand;
  const dashDash = argv.indexOf("--");
  const flagsPart = dashDash < 0 ? argv : argv.slice(0, dashDash);
  const first = argv[0];

  if (first === undefined) return usage(root, undefined, "stdout", 0);
  if (first === "help") {
    const name = argv[1];
    if (name === undefined) return usage(root, undefined, "stdout", 0);
    const sub = await findSubCommand(name);
    if (!sub) return fail(`unknown help topic "${name}"`, root, undefined);
    return usage(sub, root, "stdout", 0);
  }
  if (first.startsWith("-")) {
    if (HELP_FLAGS.has(first)) return usage(root, undefined, "stdout", 0);
    return fail(unknownFlag(first), root, undefined);
  }
  const sub = await findSubCommand(first);
  if (!sub) return fail(`unknown command "${first}" for "paqet"`, root, undefined);
  if (flagsPart.slice(1).some((a) => HELP_FLAGS.has(a))) return usage(sub, root, "stdout", 0);

  const defs = ((await resolve(sub.args)) ?? {}) as ArgsDef;
  const checked = normalizeArgs(argv.slice(1), defs);
  if (!checked.ok) return fail(checked.error, sub, root);

  try {
    const { result } = await runCommand(sub, { rawArgs: checked.argv });
    return typeof result === "number" ? result : 0;
  } catch (err) {
    if (err instanceof Error && err.name === "CLIError") return fail(err.message, sub, root);
    process.stderr.write(`Error: ${errorMessage(err)}\n`);
    return 1;
  }
}

async function findSubCommand(name: string): Promise<AnyCommand | undefined> {
  const subs = (await resolve(main.subCommands)) as Record<string, unknown> | undefined;
  if (!subs || !Object.hasOwn(subs, name)) return undefined;
  return (await resolve(subs[name])) as AnyCommand;
}

async function resolve<T>(value: T | (() => T) | (() => Promise<T>) | Promise<T>): Promise<T> {
  return typeof value === "function" ? await (value as () => T | Promise<T>)() : await value;
}

async function usage(cmd: AnyCommand, parent: AnyCommand | undefined, to: "stdout" | "stderr", code: number): Promise<number> {
  const stream = to === "stdout" ? process.stdout : process.stderr;
  const text = `${await renderUsage(cmd, parent)}\n`;
  // citty colours unconditionally; keep pipes and log files free of escape codes.
  stream.write(stream.isTTY ? text : text.replace(/\x1b\[[0-9;]*m/g, ""));
  return code;
}

async function fail(message: string, cmd: AnyCommand, parent: AnyCommand | undefined): Promise<number> {
  process.stderr.write(`Error: ${message}\n`);
  return usage(cmd, parent, "stderr", 1);
}

function unknownFlag(arg: string): string {
  if (arg.startsWith("--")) return `unknown flag: ${arg.split("=")[0]}`;
  return `unknown shorthand flag: '${arg[1] ?? ""}' in ${arg}`;
}

interface FlagDef {
  readonly name: string;
  readonly type: string;
}

export type NormalizeResult = { ok: true; argv: string[] } | { ok: false; error: string };

/**
 * Checks argv against a command's declared args (names, kebab/snake spellings, aliases; `--no-x`
 * for booleans) and rewrites every flag as `--name` or `--name=value`. Positionals pass through
 * unchecked, as in Go paqet. Supports `--f v`, `--f=v`, `-c v`, `-c=v` and `-cv`.
 */
export function normalizeArgs(args: readonly string[], defs: ArgsDef): NormalizeResult {
  const longs = new Map<string, FlagDef>();
  const shorts = new Map<string, FlagDef>();
  for (const [name, def] of Object.entries(defs)) {
    if (def.type === "positional") continue;
    const flag = { name, type: def.type ?? "string" };
    for (const spelling of [name, name.replaceAll("_", "-"), name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)]) {
      longs.set(spelling, flag);
    }
    const aliases = "alias" in def && def.alias !== undefined ? [def.alias].flat() : [];
    for (const alias of aliases) (alias.length === 1 ? shorts : longs).set(alias, flag);
  }
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === "--") {
      out.push(...args.slice(i));
      break;
    }
    if (arg.startsWith("--")) {
      const eq = arg.indexOf("=");
      const spelled = arg.slice(2, eq < 0 ? undefined : eq);
      const inline = eq < 0 ? undefined : arg.slice(eq + 1);
      let flag = longs.get(spelled);
      if (!flag && spelled.startsWith("no-")) {
        const negated = longs.get(spelled.slice(3));
        if (negated?.type === "boolean" && inline === undefined) {
          out.push(`--no-${negated.name}`);
          continue;
        }
      }
      if (!flag) return { ok: false, error: `unknown flag: --${spelled}` };
      if (flag.type === "boolean") {
        out.push(inline === undefined ? `--${flag.name}` : `--${flag.name}=${inline}`);
        continue;
      }
      const value = inline ?? args[++i];
      if (value === undefined) return { ok: false, error: `flag needs an argument: --${spelled}` };
      out.push(`--${flag.name}=${value}`);
      continue;
    }
    if (arg.startsWith("-") && arg.length > 1) {
      const c = arg[1]!;
      const flag = shorts.get(c);
      if (!flag) return { ok: false, error: `unknown shorthand flag: '${c}' in ${arg}` };
      const rest = arg.slice(2);
      if (flag.type === "boolean") {
        if (rest !== "" && rest !== "=true" && rest !== "=false") return { ok: false, error: `unknown shorthand flag: '${rest[0]}' in ${arg}` };
        out.push(rest === "" ? `--${flag.name}` : `--${flag.name}${rest}`);
        continue;
      }
      const value = rest !== "" ? (rest.startsWith("=") ? rest.slice(1) : rest) : args[++i];
      if (value === undefined) return { ok: false, error: `flag needs an argument: '${c}' in ${arg}` };
      out.push(`--${flag.name}=${value}`);
      continue;
    }
    out.push(arg);
  }
  return { ok: true, argv: out };
}
