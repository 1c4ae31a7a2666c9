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

/** Runs the paqet CLI (or, for tests, another root command) and sets `process.exitCode`. */
export async function runCli(argv: readonly string[], root: CommandDef<any> = main): Promise<number> {
  const code = await dispatch([...argv], root as AnyCommand);
  process.exitCode = code;
  return code;
}

async function dispatch(argv: string[], root: AnyCommand): Promise<number> {
  const first = argv[0];

  if (first === undefined) return usage(root, undefined, "stdout", 0);
  if (first === "help") {
    const chain = await resolveChain(root, argv.slice(1));
    if (chain.unknown !== undefined) return fail(`unknown help topic "${chain.unknown}"`, root, undefined);
    return usage(chain.cmd, chain.parent, "stdout", 0);
  }

  const chain = await resolveChain(root, argv);
  if (beforeDashDash(argv).some((a) => HELP_FLAGS.has(a))) return usage(chain.cmd, chain.parent, "stdout", 0);

  const checked = await checkArgs(root, argv, undefined, "paqet");
  if (!checked.ok) return fail(checked.error, checked.cmd, checked.parent);
  try {
    const { result } = await runCommand(checked.leaf, { rawArgs: checked.argv });
    return typeof result === "number" ? result : 0;
  } catch (err) {
    if (err instanceof Error && err.name === "CLIError") return fail(err.message, chain.cmd, chain.parent);
    process.stderr.write(`Error: ${errorMessage(err)}\n`);
    return 1;
  }
}

function beforeDashDash(argv: readonly string[]): readonly string[] {
  const i = argv.indexOf("--");
  return i < 0 ? argv : argv.slice(0, i);
}

async function subCommandsOf(cmd: AnyCommand): Promise<Record<string, unknown> | undefined> {
  const subs = (await resolve(cmd.subCommands)) as Record<string, unknown> | undefined;
  return subs && Object.keys(subs).length > 0 ? subs : undefined;
}

async function argsOf(cmd: AnyCommand): Promise<ArgsDef> {
  return ((await resolve(cmd.args)) ?? {}) as ArgsDef;
}

/** Index of the first positional argument, skipping the values of string flags. */
function firstPositional(args: readonly string[], defs: ArgsDef): number {
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === "--") return -1;
    if (!a.startsWith("-") || a === "-") return i;
    if (a.includes("=")) continue;
    const name = a.replace(/^--?/, "");
    const takesValue = Object.entries(defs).some(([key, def]) => {
      if (def.type !== "string" && def.type !== "enum") return false;
      const aliases = "alias" in def && def.alias !== undefined ? [def.alias].flat() : [];
      return key === name || key.replaceAll("_", "-") === name || aliases.includes(name);
    });
    if (takesValue && !(a.length > 2 && !a.startsWith("--"))) i++;
  }
  return -1;
}

interface Chain {
  cmd: AnyCommand;
  parent: AnyCommand | undefined;
  /** A positional where a subcommand was expected but none has that name. */
  unknown?: string;
}

/** Follows subcommand names through argv to the command that will run. */
async function resolveChain(root: AnyCommand, argv: readonly string[]): Promise<Chain> {
  let chain: Chain = { cmd: root, parent: undefined };
  let args = argv;
  for (;;) {
    const subs = await subCommandsOf(chain.cmd);
    if (!subs) return chain;
    const i = firstPositional(args, await argsOf(chain.cmd));
    if (i < 0) return chain;
    const name = args[i]!;
    if (!Object.hasOwn(subs, name)) return { ...chain, unknown: name };
    const sub = (await resolve(subs[name])) as AnyCommand;
    chain = { cmd: sub, parent: chain.cmd };
    args = args.slice(i + 1);
  }
}

type Checked =
  | { ok: true; leaf: AnyCommand; argv: string[] }
  | { ok: false; error: string; cmd: AnyCommand; parent: AnyCommand | undefined };

/**
 * Strict flag check of every command on the chain, each against its own declared args. Returns
 * the command to run and its normalized argv (parents only route; none has setup hooks).
 */
async function checkArgs(cmd: AnyCommand, args: readonly string[], parent: AnyCommand | undefined, path: string): Promise<Checked> {
  const defs = await argsOf(cmd);
  const subs = await subCommandsOf(cmd);
  const i = subs ? firstPositional(args, defs) : -1;
  const own = normalizeArgs(i < 0 ? args : args.slice(0, i), defs);
  if (!own.ok) return { ok: false, error: own.error, cmd, parent };
  if (i < 0 || !subs) return { ok: true, leaf: cmd, argv: own.argv };
  const name = args[i]!;
  if (!Object.hasOwn(subs, name)) return { ok: false, error: `unknown command "${name}" for "${path}"`, cmd, parent };
  const sub = (await resolve(subs[name])) as AnyCommand;
  return checkArgs(sub, args.slice(i + 1), cmd, `${path} ${name}`);
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
