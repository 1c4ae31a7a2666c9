/**
 * The namespace bed for privileged tests and benchmarks: the names the tests use, over the one
 * implementation in src/cli/demo/netbed.ts (which `paqet demo`, the e2e tests and the tunnel bench
 * use too), plus the two ways tests run processes inside a namespace.
 *
 *   ns a ("client")                                  ns b ("server")
 *   ifA  10.77.N.1/24  fd77:N::1/64  ==== veth ====  ifB  10.77.N.2/24  fd77:N::2/64
 *        MAC 02:77:00:00:NN:01                             MAC 02:77:00:00:NN:02
 *
 * Usage:
 *
 *   import { createBed, netnsSkipReason, runIn, spawnIn } from "./helpers/netns.ts";
 *   const skip = netnsSkipReason();                 // undefined when root and `ip netns` works
 *   describe.skipIf(skip !== undefined)(`... ${skip ?? ""}`, () => {
 *     let bed: Bed;
 *     beforeAll(() => { bed = createBed({ prefix: "pq" }); });
 *     afterAll(() => bed?.destroy());
 *     test("...", async () => {
 *       const child = spawnIn(bed.a.ns, [process.execPath, "script.ts", bed.a.ifname]);
 *       ...
 *     });
 *   });
 *
 * What the bed holds (addresses, MACs, neighbours, offloads, NOTRACK/RST-drop rules) and how
 * leftovers of crashed runs are cleaned up is described in netbed.ts.
 */
import { spawn, type Subprocess } from "bun";
import { createNetBed, inNs, netbedUnavailable, type BedEnd, type NetBed, type NetBedOptions } from "../../src/cli/demo/netbed.ts";

export { cleanLeftovers } from "../../src/cli/demo/netbed.ts";
export type { BedEnd as BedSide, NetBed as Bed };

export interface BedOptions extends Omit<NetBedOptions, "layout"> {
  /**
   * "pair" (default): one namespace per side. "single": both veth ends in ONE namespace (a.ns ===
   * b.ns), so a single process running inside it can open a raw socket on each end.
   */
  readonly layout?: "pair" | "single";
}

export interface RunResult {
  readonly exitCode: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Why privileged netns tests cannot run here, or undefined when they can. */
export const netnsSkipReason = netbedUnavailable;

export function createBed(options: BedOptions = {}): NetBed {
  return createNetBed({ ...options, layout: options.layout === "single" ? "single" : "direct" });
}

/** Runs argv inside `ns` and waits (bounded: SIGKILL after `timeoutMs`, default 30 s). */
export async function runIn(
  ns: string,
  argv: string[],
  options: { timeoutMs?: number; env?: Record<string, string>; stdin?: string } = {},
): Promise<RunResult> {
  const child = spawnIn(ns, argv, { env: options.env, stdin: options.stdin === undefined ? "ignore" : "pipe" });
  if (options.stdin !== undefined && child.stdin && typeof child.stdin !== "number") {
    child.stdin.write(options.stdin);
    await child.stdin.end();
  }
  const timer = setTimeout(() => child.kill("SIGKILL"), options.timeoutMs ?? 30_000);
  try {
    const [stdout, stderr, exitCode] = await Promise.all([
      new Response(child.stdout as ReadableStream).text(),
      new Response(child.stderr as ReadableStream).text(),
      child.exited,
    ]);
    return { exitCode, stdout, stderr };
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Starts argv inside `ns` with piped stdout/stderr and returns at once. The caller must kill it
 * (prefer SIGKILL: a crashed Bun can ignore SIGTERM); `destroy()` also kills what is left inside.
 */
export function spawnIn(
  ns: string,
  argv: string[],
  options: { env?: Record<string, string>; stdin?: "pipe" | "ignore" } = {},
): Subprocess<"pipe" | "ignore", "pipe", "pipe"> {
  return spawn(inNs(ns, argv), {
    stdin: options.stdin ?? "ignore",
    stdout: "pipe",
    stderr: "pipe",
    env: { ...process.env, ...options.env },
  });
}
