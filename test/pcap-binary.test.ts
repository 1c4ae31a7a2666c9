/**
 * The capture worker inside a compiled binary (root only). A binary built without the worker as an
 * extra entrypoint, or one that looks for it at the wrong embedded path, builds fine and fails only
 * when it first captures; so this builds the release layout with build.ts and has the binary's
 * `dump` see the binary's `ping` across a namespace pair.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Bed, createBed, netnsSkipReason, runIn, spawnIn } from "./helpers/netns.ts";

const ROOT = join(import.meta.dir, "..");
const SKIP = netnsSkipReason();

describe.skipIf(SKIP !== undefined)(`compiled binary captures${SKIP ? ` (skipped: ${SKIP})` : ""}`, () => {
  const dir = mkdtempSync(join(tmpdir(), "paqet-bin-"));
  let binary = "";
  let bed: Bed | undefined;

  beforeAll(async () => {
    const build = Bun.spawn([process.execPath, "build.ts", "--outdir", dir], { cwd: ROOT, stdout: "pipe", stderr: "pipe" });
    const timer = setTimeout(() => build.kill("SIGKILL"), 170_000);
    const [out, err, code] = await Promise.all([new Response(build.stdout).text(), new Response(build.stderr).text(), build.exited]);
    clearTimeout(timer);
    if (code !== 0) throw new Error(`build.ts failed (${code}):\n${out}${err}`);
    const name = readdirSync(dir).find((f) => f.startsWith("paqet-"));
    if (!name) throw new Error(`build.ts wrote no binary into ${dir}`);
    binary = join(dir, name);
    bed = createBed({ prefix: "pqx" });
  }, 180_000);

  afterAll(() => {
    bed?.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  test(
    "dump (capture worker from the embedded file system) prints what ping sent",
    async () => {
      const b = bed!;
      writeFileSync(
        join(dir, "server.yaml"),
        `role: "server"\nlisten:\n  addr: ":9999"\nnetwork:\n  interface: "${b.b.ifname}"\n  ipv4:\n    addr: "${b.b.ipv4}:9999"\n    router_mac: "${b.b.routerMac}"\ntransport:\n  protocol: "kcp"\n  kcp:\n    key: "k"\n`,
      );
      writeFileSync(
        join(dir, "client.yaml"),
        `role: "client"\nsocks5:\n  - listen: "127.0.0.1:1080"\nnetwork:\n  interface: "${b.a.ifname}"\n  ipv4:\n    addr: "${b.a.ipv4}:0"\n    router_mac: "${b.a.routerMac}"\nserver:\n  addr: "${b.b.ipv4}:9999"\ntransport:\n  protocol: "kcp"\n  kcp:\n    key: "k"\n`,
      );
      const dump = spawnIn(b.b.ns, [binary, "dump", "-c", join(dir, "server.yaml")]);
      let out = "";
      const reading = (async () => {
        const dec = new TextDecoder();
        for await (const chunk of dump.stdout) out += dec.decode(chunk, { stream: true });
      })();
      try {
        const until = async (re: RegExp, ms: number) => {
          const deadline = Date.now() + ms;
          while (!re.test(out) && Date.now() < deadline) await Bun.sleep(50);
          return re.test(out);
        };
        expect(await until(/listening for packets on :9999/, 15_000)).toBe(true);
        const ping = await runIn(b.a.ns, [binary, "ping", "-c", join(dir, "client.yaml"), "--payload", "from the binary"], { timeoutMs: 20_000 });
        expect(ping.stderr).toBe("");
        expect(ping.exitCode).toBe(0);
        expect(await until(/\| Length: 15 bytes\n/, 15_000)).toBe(true);
        expect(out).toContain("|from the binary|");
      } finally {
        dump.kill("SIGINT");
        const timer = setTimeout(() => dump.kill("SIGKILL"), 3000);
        const code = await dump.exited;
        clearTimeout(timer);
        await reading;
        const err = await new Response(dump.stderr).text();
        expect(err).not.toContain("ModuleNotFound");
        expect(code).toBe(0);
      }
    },
    { timeout: 60_000 },
  );
});
