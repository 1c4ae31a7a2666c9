import { PaqetError } from "../lib/errors.ts";

/** One finding in a config file, located at the YAML node it is about (1-based line and column). */
export interface ConfigProblem {
  /** Key path such as `forward[1].target`, or "" for the whole document. */
  readonly path: string;
  readonly line: number;
  readonly col: number;
  readonly message: string;
}

export type ConfigErrorCode =
  /** The file could not be read. */
  | "CONF_READ"
  /** YAML syntax errors or validation failures; `problems` lists every one. */
  | "CONF_INVALID";

export class ConfigError extends PaqetError {
  declare readonly code: ConfigErrorCode;
  readonly fileName: string;
  readonly problems: readonly ConfigProblem[];
  /** Warnings found on the way, so a caller can show them next to the problems. */
  readonly warnings: readonly ConfigProblem[];

  constructor(
    code: ConfigErrorCode,
    fileName: string,
    problems: readonly ConfigProblem[],
    options?: { cause?: unknown },
    warnings: readonly ConfigProblem[] = [],
  ) {
    super(code, summarize(fileName, problems), options);
    this.fileName = fileName;
    this.problems = problems;
    this.warnings = warnings;
  }
}

/** `file:line:col: path: message`, the form editors and CI annotators understand. */
export function formatProblem(fileName: string, p: ConfigProblem): string {
  const where = p.line > 0 ? `${fileName}:${p.line}:${p.col}` : fileName;
  return p.path ? `${where}: ${p.path}: ${p.message}` : `${where}: ${p.message}`;
}

function summarize(fileName: string, problems: readonly ConfigProblem[]): string {
  // A read failure is one unpositioned line, e.g. Go's "open config.yaml: no such file or directory".
  if (problems.length === 1 && problems[0]!.line === 0 && !problems[0]!.path) return problems[0]!.message;
  const n = problems.length;
  const head = `${fileName}: ${n} problem${n === 1 ? "" : "s"}`;
  return [head, ...problems.map((p) => `  ${formatProblem(fileName, p)}`)].join("\n");
}
