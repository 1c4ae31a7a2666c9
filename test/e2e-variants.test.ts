/**
 * End to end (root), the core subset for transport variants: block aes-128-gcm and null,
 * `conn: 4`, and an IPv6 carrier (block aes). One bed for the file; server and client restart with
 * each variant's configs. Per variant: 8 MiB through SOCKS5 with curl (sha256), UDP ASSOCIATE
 * echoes, 32 concurrent SOCKS5 downloads of 256 KiB, and a TCP forward.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { patternSha256 } from "../src/cli/demo/pattern.ts";
import { E2E, e2eSkipReason, TCP_FWD_PORT, type Variant } from "./helpers/e2e.ts";

const SKIP = e2eSkipReason();
const KiB = 1024;
const MiB = 1024 * KiB;

const VARIANTS: [string, Variant][] = [
  ["block aes-128-gcm", { block: "aes-128-gcm" }],
  ["block null", { block: "null" }],
  ["conn 4 (block aes)", { block: "aes", conn: 4 }],
  ["IPv6 carrier (block aes)", { block: "aes", family: 6 }],
];

describe.skipIf(SKIP !== undefined)(`e2e variants${SKIP ? ` (skipped: ${SKIP})` : ""}`, () => {
  let e2e: E2E;

  beforeAll(() => {
    e2e = new E2E("pqv");
  });

  afterAll(async () => {
    await e2e?.destroy();
  }, 30_000);

  for (const [name, variant] of VARIANTS) {
    describe(name, () => {
      beforeAll(async () => {
        await e2e.start(variant);
      }, 60_000);

      test("8 MiB through SOCKS5 CONNECT (curl) with its sha256", async () => {
        const r = await e2e.curlSha256(8 * MiB, 60);
        expect(r.stderr).toBe("");
        expect(r.sha256).toBe(patternSha256(8 * MiB));
      }, 90_000);

      test("UDP ASSOCIATE echoes 10, 1000 and 3000 bytes intact", async () => {
        const r = await e2e.udp([10, 1000, 3000]);
        expect(r.results.map((x) => x.ok)).toEqual([true, true, true]);
      }, 60_000);

      test("32 concurrent SOCKS5 downloads of 256 KiB, all intact", async () => {
        const r = await e2e.get(256 * KiB, 32, 32, 60_000);
        expect(r.errors).toEqual([]);
        expect(r.ok).toBe(32);
      }, 90_000);

      test("TCP forward carries a download intact", async () => {
        const r = await e2e.get(1 * MiB, 1, 1, 30_000, null, { host: "127.0.0.1", port: TCP_FWD_PORT });
        expect(r.errors).toEqual([]);
        expect(r.ok).toBe(1);
      }, 60_000);

      if (variant.family === 6) {
        test("the server saw the client over IPv6", () => {
          expect(e2e.server?.output).toContain(e2e.bed.a.ipv6);
        });
      }

      if (variant.conn !== undefined) {
        test(`the server holds ${variant.conn} sessions from the one client`, async () => {
          expect((await e2e.status("server")).sessions).toBe(variant.conn!);
        }, 30_000);
      }

      test("both processes are still running", () => {
        expect(e2e.server?.exited).toBe(false);
        expect(e2e.client?.exited).toBe(false);
      });
    });
  }
});
