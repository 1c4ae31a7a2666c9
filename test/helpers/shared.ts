/**
 * Where the shared references live: `../shared/` beside the repository, both on a developer's
 * machine and in CI (which lays a copy of shared/ beside its fresh clone). PAQET_SHARED overrides.
 */
import { existsSync } from "node:fs";
import { resolve } from "node:path";

export const SHARED_DIR = process.env.PAQET_SHARED ?? resolve(import.meta.dir, "../../../shared");
export const VECTORS_DIR = resolve(SHARED_DIR, "vectors");
export const SHARED_TOOLS_DIR = resolve(SHARED_DIR, "tools");

if (!existsSync(VECTORS_DIR)) {
  throw new Error(`shared vectors not found at ${VECTORS_DIR} (set PAQET_SHARED to the shared/ folder)`);
}

export function vectorPath(name: string): string {
  return resolve(VECTORS_DIR, name);
}
