/**
 * Live `paqet dump --decrypt` (root, network namespaces): a real server and `ping --tunnel` from
 * the client namespace; the dump in the server namespace decrypts what reaches the server's port
 * (client → server only: it uses the server's inbound raw socket), shows the paqet PING messages,
 * reports a stray unencrypted packet as a failure, and prints its summary on SIGTERM.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { clientYaml, MAIN_TS, NsProcess, serverYaml, startPaqet, WorkDir } from "../src/cli/demo/harness.ts";
import { createNetBed, netbedUnavailable, type NetBed } from "../src/cli/demo/netbed.ts";

const SKIP = netbedUnavailable();
const title = (name: string) => (SKIP ? `${name} (skipped: ${SKIP})` : name);

describe.skipIf(SKIP !== undefined)(title("dump --decrypt on a live server port"), () => {
  let bed: NetBed | undefined;
  const work = new WorkDir();
  const procs: NsProcess[] = [];
  beforeAll(() => {
    bed = createNetBed({ prefix: "pqdl" });
  });
  afterAll(async () => {
    for (const p of procs) await p.stop(1000);
    bed?.destroy();
    work.cleanup();
  });

  test(
    "ping --tunnel is decoded: PING messages, 0 failed; a plain ping is one failed line",
    async () => {
      const b = bed!;
      const spec = { key: "live-dump-key", block: "aes", mode: "fast" };
      const server = work.write("server.yaml", serverYaml(b, spec));
      const client = work.write("client.yaml", clientYaml(b, spec));
      const srv = startPaqet("server", b.b.ns, server);
      procs.push(srv);
      await srv.waitFor(/listening for packets/, 20_000);
      const dump = new NsProcess("dump", b.b.ns, [process.execPath, MAIN_TS, "dump", "--decrypt", "-c", server]);
      procs.push(dump);
      await dump.waitFor(/\[INFO\] listening for packets on :\d+/, 15_000);

      const ping = new NsProcess("ping", b.a.ns, [process.execPath, MAIN_TS, "ping", "--tunnel", "--count", "2", "-c", client]);
      procs.push(ping);
      const timer = setTimeout(() => ping.kill(), 30_000);
      const code = await ping.done;
      clearTimeout(timer);
      expect(code, ping.tail()).toBe(0);
      await dump.waitFor(/paqet PING[\s\S]*paqet PING/, 10_000);

      const stray = new NsProcess("stray", b.a.ns, [process.execPath, MAIN_TS, "ping", "--payload", "x".repeat(40), "-c", client]);
      procs.push(stray);
      expect(await stray.done).toBe(0);
      await dump.waitFor(/ 40 B: aes FAILED \(CRC mismatch\)\n/, 10_000);

      expect(await dump.stop()).toBe(0);
      const out = dump.output;
      expect(out).toMatch(new RegExp(`\\] ${b.a.ipv4.replaceAll(".", "\\.")}:\\d+ -> :\\d+ \\d+ B: aes ok\\n {2}PUSH conv=[0-9a-f]{8} sn=0 `));
      expect(out.match(/ aes FAILED /g)).toHaveLength(1);
      expect(out).toMatch(/decrypt: \d+ datagrams, \d+ ok, 1 failed \(1 crc\), 0 malformed;/);
      expect(out).toContain("smux SYN v2 sid=");
      if (process.env.PAQET_SHOW_DUMP) console.log(out);
    },
    { timeout: 90_000 },
  );
});
