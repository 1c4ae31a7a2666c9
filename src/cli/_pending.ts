/** Placeholder for commands whose owners have not landed them yet; exits 1 so nothing looks done. */
export function notYet(name: string): never {
  process.stderr.write(`paqet ${name}: not available in this build yet\n`);
  process.exit(1);
}
