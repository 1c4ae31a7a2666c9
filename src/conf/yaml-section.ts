/**
 * Typed, position-aware reads from a YAML document parsed with the failsafe schema (every scalar
 * is its source text), so each field is typed here, exactly once, and every finding carries the
 * line and column of the node it is about.
 */
import { isAlias, isMap, isScalar, isSeq, type Document, type LineCounter, type Node, type YAMLMap } from "yaml";
import type { ConfigProblem } from "./errors.ts";
import { IGNORED_KEYS, suggestKey, type KeyTree } from "./schema.ts";

export type YNode = Node | null | undefined;

export class Findings {
  readonly problems: ConfigProblem[] = [];
  readonly warnings: ConfigProblem[] = [];

  constructor(
    private readonly doc: Document,
    private readonly lines: LineCounter,
  ) {}

  where(node: YNode): { line: number; col: number } {
    const offset = node?.range?.[0];
    return this.whereOffset(offset ?? 0);
  }

  whereOffset(offset: number): { line: number; col: number } {
    const p = this.lines.linePos(offset);
    return { line: p.line, col: p.col };
  }

  error(path: string, node: YNode, message: string): void {
    this.problems.push({ path, ...this.where(node), message });
  }

  warn(path: string, node: YNode, message: string): void {
    this.warnings.push({ path, ...this.where(node), message });
  }

  deref(node: unknown): YNode {
    let n = node as YNode;
    for (let hops = 0; n && isAlias(n) && hops < 64; hops++) n = n.resolve(this.doc) as YNode;
    return n;
  }
}

/** A plain scalar that YAML reads as null (`~`, `null`, or nothing): the key counts as unset. */
export function isNullNode(node: YNode): boolean {
  if (node === null || node === undefined) return true;
  return isScalar(node) && node.type === "PLAIN" && /^(~|null|Null|NULL)?$/.test(String(node.value));
}

const MAX_SAFE = Number.MAX_SAFE_INTEGER;

/** YAML integer forms (decimal, 0x, 0o, 0b, `_` separators) and whole-valued floats such as `1e3`. */
export function parseIntText(text: string): number | undefined {
  const s = text.trim().replaceAll("_", "");
  let m: RegExpExecArray | null;
  let n: number | undefined;
  if (/^[-+]?[0-9]+$/.test(s)) n = Number(s);
  else if ((m = /^([-+]?)0x([0-9a-fA-F]+)$/.exec(s))) n = Number.parseInt(m[2]!, 16) * (m[1] === "-" ? -1 : 1);
  else if ((m = /^([-+]?)0o([0-7]+)$/.exec(s))) n = Number.parseInt(m[2]!, 8) * (m[1] === "-" ? -1 : 1);
  else if ((m = /^([-+]?)0b([01]+)$/.exec(s))) n = Number.parseInt(m[2]!, 2) * (m[1] === "-" ? -1 : 1);
  else if (/^[-+]?(\d+\.?\d*|\.\d+)(e[-+]?\d+)?$/i.test(s)) {
    const f = Number(s);
    if (Number.isInteger(f)) n = f;
  }
  if (n === undefined || !Number.isSafeInteger(n) || Math.abs(n) > MAX_SAFE) return undefined;
  return n;
}

const TRUE = new Set(["true", "yes", "on", "y"]);
const FALSE = new Set(["false", "no", "off", "n"]);

export interface ListItem<T> {
  readonly value: T;
  readonly node: YNode;
  readonly path: string;
}

/** One YAML mapping at a key path, with unknown-key warnings issued when it is opened. */
export class Section {
  private readonly entries = new Map<string, { key: YNode; value: YNode }>();
  readonly present: boolean;

  /**
   * @param path key path with indices (`forward[1]`), "" for the root
   * @param schemaPath the same with indices as `[]`, to look up ignored keys
   * @param node the mapping, or null/undefined when the key is absent
   * @param anchor where to point when a required key of an absent section is reported
   */
  constructor(
    readonly f: Findings,
    readonly path: string,
    private readonly schemaPath: string,
    node: YNode,
    readonly anchor: YNode,
    private readonly tree: KeyTree,
  ) {
    const n = f.deref(node);
    if (isNullNode(n)) {
      this.present = false;
      return;
    }
    if (!isMap(n)) {
      f.error(path, n, `must be a mapping of keys, not ${describe(n)}`);
      this.present = false;
      return;
    }
    this.present = true;
    this.anchor = n;
    this.collect(n);
  }

  private collect(map: YAMLMap): void {
    const known = Object.keys(this.tree);
    for (const pair of map.items) {
      const keyNode = this.f.deref(pair.key);
      const key = isScalar(keyNode) ? String(keyNode.value) : undefined;
      const keyPath = this.child(key ?? "?");
      if (key === undefined) {
        this.f.warn(this.path, keyNode, "ignoring a key that is not a plain name");
        continue;
      }
      if (key in this.tree) {
        this.entries.set(key, { key: keyNode, value: this.f.deref(pair.value) });
        continue;
      }
      const schemaKey = this.schemaPath ? `${this.schemaPath}.${key}` : key;
      const note = IGNORED_KEYS[schemaKey];
      if (note !== undefined) {
        this.f.warn(keyPath, keyNode, note);
        continue;
      }
      const guess = suggestKey(key, known);
      this.f.warn(keyPath, keyNode, `unknown key, ignored${guess ? ` (did you mean "${guess}"?)` : ""}`);
    }
  }

  child(key: string): string {
    return this.path ? `${this.path}.${key}` : key;
  }

  /** The node to point at for `key`: its value, else its key, else this section. */
  at(key: string): YNode {
    const e = this.entries.get(key);
    return e?.value ?? e?.key ?? this.anchor;
  }

  has(key: string): boolean {
    const e = this.entries.get(key);
    return e !== undefined && !isNullNode(e.value);
  }

  /** The key is written but its value is YAML null (`key:`, `key: ~`, unquoted `key: null`). */
  isExplicitNull(key: string): boolean {
    const e = this.entries.get(key);
    return e !== undefined && isNullNode(e.value);
  }

  sub(key: string): Section {
    const childTree = this.tree[key];
    if (childTree === null || childTree === undefined || Array.isArray(childTree)) {
      throw new Error(`schema: ${this.child(key)} is not a section`);
    }
    const e = this.entries.get(key);
    return new Section(this.f, this.child(key), this.childSchema(key), e?.value, e?.key ?? this.anchor, childTree as KeyTree);
  }

  /** A list of mappings (`socks5`, `forward`); a missing or null key is an empty list. */
  list(key: string): Section[] {
    const childTree = this.tree[key];
    if (!Array.isArray(childTree)) throw new Error(`schema: ${this.child(key)} is not a list of sections`);
    const item = (childTree as readonly [KeyTree])[0];
    const e = this.entries.get(key);
    if (!e || isNullNode(e.value)) return [];
    if (!isSeq(e.value)) {
      this.f.error(this.child(key), e.value, `must be a list, not ${describe(e.value)}`);
      return [];
    }
    return e.value.items.map((raw, i) => {
      const node = this.f.deref(raw as YNode);
      const path = `${this.child(key)}[${i}]`;
      if (isNullNode(node)) this.f.error(path, node ?? e.value, "empty list entry");
      return new Section(this.f, path, `${this.childSchema(key)}[]`, node, node ?? e.value, item);
    });
  }

  /** Text of a scalar (numbers and booleans as written); undefined when unset. */
  str(key: string): string | undefined {
    const e = this.entries.get(key);
    if (!e || isNullNode(e.value)) return undefined;
    if (!isScalar(e.value)) {
      this.f.error(this.child(key), e.value, `must be a text value, not ${describe(e.value)}`);
      return undefined;
    }
    return String(e.value.value);
  }

  int(key: string): number | undefined {
    const text = this.str(key);
    if (text === undefined) return undefined;
    const n = parseIntText(text);
    if (n === undefined) this.f.error(this.child(key), this.at(key), `must be an integer, got "${text}"`);
    return n;
  }

  bool(key: string): boolean | undefined {
    const text = this.str(key);
    if (text === undefined) return undefined;
    const t = text.toLowerCase();
    if (TRUE.has(t)) return true;
    if (FALSE.has(t)) return false;
    this.f.error(this.child(key), this.at(key), `must be true or false, got "${text}"`);
    return undefined;
  }

  /** A list of scalars, each with its node for positions; undefined when unset. */
  strList(key: string): ListItem<string>[] | undefined {
    const e = this.entries.get(key);
    if (!e || isNullNode(e.value)) return undefined;
    if (!isSeq(e.value)) {
      this.f.error(this.child(key), e.value, `must be a list, not ${describe(e.value)}`);
      return undefined;
    }
    const out: ListItem<string>[] = [];
    e.value.items.forEach((raw, i) => {
      const node = this.f.deref(raw as YNode);
      const path = `${this.child(key)}[${i}]`;
      if (!isScalar(node)) {
        this.f.error(path, node ?? e.value, `must be a text value, not ${describe(node)}`);
        return;
      }
      out.push({ value: isNullNode(node) ? "" : String(node.value), node, path });
    });
    return out;
  }

  private childSchema(key: string): string {
    return this.schemaPath ? `${this.schemaPath}.${key}` : key;
  }
}

function describe(node: YNode): string {
  if (isMap(node)) return "a mapping";
  if (isSeq(node)) return "a list";
  if (isScalar(node)) return `"${String(node.value)}"`;
  return "nothing";
}
