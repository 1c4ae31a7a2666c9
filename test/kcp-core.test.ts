/** The ARQ core on a fake clock: RTO back-off, fast/early resend, windows, probes, input checks. */
import { describe, expect, test } from "bun:test";
import { InputResult, KcpCore, PROBE_INIT, STATE_DEAD, timediff, TRIM_PERIOD_MS } from "../src/kcp/core.ts";
import { Cmd, decodeSegments, encodeSegment, type DecodedSegment } from "../src/kcp/segment.ts";
import { seededRandom } from "../src/socket/lossy.ts";

const CONV = 0x11223344;

function core(setup: (k: KcpCore) => void = () => {}) {
  const out: DecodedSegment[][] = [];
  const k = new KcpCore(CONV, (d) => out.push(decodeSegments(d.slice())));
  k.setMtu(200);
  k.stream = true;
  setup(k);
  return { k, out, take: () => out.splice(0).flat() };
}

const seg = (cmd: number, fields: Partial<DecodedSegment> = {}) =>
  encodeSegment({ conv: CONV, cmd, frg: 0, wnd: 128, ts: 0, sn: 0, una: 0, len: 0, data: new Uint8Array(0), ...fields });
const cat = (...parts: Uint8Array[]) => Uint8Array.from(parts.flatMap((p) => [...p]));

describe("retransmission timer", () => {
  for (const [nodelay, growth] of [
    [0, [200, 400, 600, 800]],
    [1, [200, 300, 400, 500]],
  ] as const) {
    test(`RTO back-off adds rx_rto${nodelay ? "/2" : ""} per timeout (nodelay ${nodelay})`, () => {
      const { k, take } = core((k) => k.setNodelay(nodelay, 10, 0, 1));
      const t0 = 0xffffff00; // crosses the u32 wrap on the way
      k.send(new Uint8Array([1, 2, 3]));
      k.flush(t0);
      expect(take().map((s) => s.sn)).toEqual([0]);
      let due = t0;
      for (const rto of growth) {
        due = (due + rto) >>> 0;
        expect(k.flush((due - 1) >>> 0)).toBe(1);
        expect(take()).toHaveLength(0);
        k.flush(due);
        const sent = take();
        expect(sent.map((s) => [s.cmd, s.sn, s.ts])).toEqual([[Cmd.Push, 0, due]]);
      }
      expect(k.stats.lostSegs).toBe(growth.length);
    });
  }

  test("flush returns the time to the nearest resend, capped at the interval", () => {
    const { k } = core((k) => k.setNodelay(0, 40, 0, 1));
    expect(k.flush(1000)).toBe(40);
    k.send(new Uint8Array(10));
    expect(k.flush(1000)).toBe(40);
    expect(k.flush(1190)).toBe(10);
  });

  test("RTT samples set srtt, rttvar and rx_rto", () => {
    const { k } = core((k) => k.setNodelay(0, 10, 0, 1));
    k.send(new Uint8Array(10));
    k.flush(1000);
    k.input(seg(Cmd.Ack, { sn: 0, ts: 1000, una: 1 }), 1080);
    expect([k.rxSrtt, k.rxRttvar, k.rxRto]).toEqual([80, 40, 240]);
    k.send(new Uint8Array(10));
    k.flush(2000);
    k.input(seg(Cmd.Ack, { sn: 1, ts: 2000, una: 2 }), 2040);
    // d = -40: srtt += -40 >> 3 = -5; |d| = 40; 40 < 75 - 40 is false → rttvar += (40 - 40) >> 2.
    expect([k.rxSrtt, k.rxRttvar, k.rxRto]).toEqual([75, 40, 235]);
  });

  test("a segment sent dead_link times marks the state dead", () => {
    const { k } = core((k) => {
      k.setNodelay(1, 10, 0, 1);
      k.deadLink = 3;
    });
    k.send(new Uint8Array(4));
    let t = 0;
    for (let i = 0; i < 3 && k.state === 0; i++) {
      k.flush(t);
      t += 60_000;
    }
    expect(k.state).toBe(STATE_DEAD);
  });
});

describe("fast and early resend", () => {
  function fourInFlight(resend: number) {
    const c = core((k) => k.setNodelay(1, 10, resend, 1));
    c.k.send(new Uint8Array(4 * c.k.mss));
    c.k.flush(100);
    expect(c.take().map((s) => s.sn)).toEqual([0, 1, 2, 3]);
    return c;
  }

  test("two later ACKs trigger an immediate fast resend of the holes, once", () => {
    const { k, take } = fourInFlight(2);
    k.input(seg(Cmd.Ack, { sn: 2, ts: 100 }), 110);
    expect(take()).toHaveLength(0);
    k.input(seg(Cmd.Ack, { sn: 3, ts: 100 }), 111);
    expect(take().map((s) => [s.cmd, s.sn])).toEqual([
      [Cmd.Push, 0],
      [Cmd.Push, 1],
    ]);
    expect(k.stats.fastRetransSegs).toBe(2);
    // The sentinel blocks another fast or early resend until the RTO.
    k.input(seg(Cmd.Ack, { sn: 3, ts: 100 }), 112);
    k.flush(113);
    expect(take()).toHaveLength(0);
  });

  test("a fast resend can repeat on ACKs of segments sent after it, up to five transmissions", () => {
    const { k, take } = fourInFlight(2);
    k.input(seg(Cmd.Ack, { sn: 2, ts: 100 }), 110);
    k.input(seg(Cmd.Ack, { sn: 3, ts: 100 }), 111);
    expect(take().map((s) => s.sn)).toEqual([0, 1]);
    // Both holes went out again at 111; sn 1 arrives, sn 0 is lost again.
    k.input(seg(Cmd.Ack, { sn: 1, ts: 111 }), 112);
    expect(take()).toHaveLength(0);
    // New data sent after the resend is acknowledged (two ACKs in one datagram, well within the
    // 30 ms RTO): sn 0 goes again, and so on while it is lost.
    let t = 113;
    const round = (): number[] => {
      k.send(new Uint8Array(2 * k.mss));
      k.flush(t);
      const fresh = take().map((s) => s.sn);
      expect(fresh).toHaveLength(2);
      k.input(cat(seg(Cmd.Ack, { sn: fresh[0]!, ts: t }), seg(Cmd.Ack, { sn: fresh[1]!, ts: t })), t + 3);
      t += 5;
      return take().map((s) => s.sn);
    };
    for (let xmit = 3; xmit <= 5; xmit++) expect(round()).toEqual([0]);
    expect(k.stats.fastRetransSegs).toBe(5);
    // Five transmissions: the sentinel now waits for the RTO, as kcp-go after every fast resend.
    expect(round()).toEqual([]);
    expect(k.stats.fastRetransSegs).toBe(5);
  });

  test("one later ACK and a flush without new data gives an early resend", () => {
    const { k, take } = fourInFlight(2);
    k.input(seg(Cmd.Ack, { sn: 3, ts: 100 }), 110);
    expect(take()).toHaveLength(0);
    k.flush(111);
    expect(take().map((s) => s.sn)).toEqual([0, 1, 2]);
    expect(k.stats.earlyRetransSegs).toBe(3);
  });

  test("ACKs for segments sent earlier than the holes' last transmission do not count", () => {
    const { k, take } = fourInFlight(2);
    k.input(seg(Cmd.Ack, { sn: 2, ts: 99 }), 110);
    k.input(seg(Cmd.Ack, { sn: 3, ts: 99 }), 110);
    expect(take()).toHaveLength(0);
  });

  test("una acknowledges cumulatively and flushes at once", () => {
    const { k, take } = fourInFlight(2);
    k.send(new Uint8Array(5));
    k.input(seg(Cmd.Ack, { sn: 3, ts: 100, una: 4 }), 120);
    expect(k.waitSnd).toBe(1);
    expect(take().map((s) => [s.cmd, s.sn])).toEqual([[Cmd.Push, 4]]);
  });
});

describe("receiving", () => {
  test("in-order data is acked through una; out-of-order sns are acked each", () => {
    const { k, take } = core((k) => k.setWndSize(32, 8));
    const push = (sn: number) => seg(Cmd.Push, { sn, ts: 50 + sn, len: 1, data: new Uint8Array([sn]) });
    k.input(cat(push(0), push(1), push(3), push(4)), 10);
    k.flush(10, true);
    expect(take().map((s) => [s.cmd, s.sn, s.una])).toEqual([
      [Cmd.Ack, 3, 2],
      [Cmd.Ack, 4, 2],
    ]);
    k.input(push(2), 11);
    k.flush(11, true);
    expect(take().map((s) => [s.sn, s.una, s.ts, s.wnd])).toEqual([[2, 5, 52, 3]]);
    const got: number[] = [];
    for (let d = k.recv(); d; d = k.recv()) got.push(...d);
    expect(got).toEqual([0, 1, 2, 3, 4]);
  });

  test("PUSH beyond the receive window is neither stored nor acked; duplicates are re-acked", () => {
    const { k, take } = core((k) => k.setWndSize(32, 4));
    k.input(seg(Cmd.Push, { sn: 4, len: 1, data: new Uint8Array([9]) }), 1);
    k.flush(1, true);
    expect(take()).toHaveLength(0);
    k.input(seg(Cmd.Push, { sn: 0, len: 1, data: new Uint8Array([1]) }), 2);
    k.input(seg(Cmd.Push, { sn: 0, len: 1, data: new Uint8Array([1]) }), 3);
    expect(k.stats.repeatSegs).toBe(2);
    k.flush(3, true);
    expect(take().map((s) => [s.cmd, s.sn, s.una])).toEqual([[Cmd.Ack, 0, 1]]);
  });

  test("a full receive queue advertises 0, and reading it re-opens with a WINS", () => {
    const { k, take } = core((k) => k.setWndSize(32, 2));
    for (let sn = 0; sn < 2; sn++) k.input(seg(Cmd.Push, { sn, len: 1, data: new Uint8Array([sn]) }), 1);
    k.flush(1, true);
    const acks = take();
    expect(acks.at(-1)!.wnd).toBe(0);
    expect(k.rcvNxt).toBe(2);
    expect([...k.recv()!]).toEqual([0]);
    k.flush(2);
    expect(take().map((s) => [s.cmd, s.wnd])).toEqual([[Cmd.Wins, 1]]);
  });

  test("stream mode merges small writes; message mode counts fragments down", () => {
    // With congestion control on (the library default) the first flush has cwnd 0.
    const s = core((k) => k.setNodelay(0, 10, 0, 1));
    for (const w of ["a", "bb", "ccc"]) s.k.send(new TextEncoder().encode(w));
    s.k.flush(0);
    expect(s.take().map((x) => new TextDecoder().decode(x.data))).toEqual(["abbccc"]);

    const m = core((k) => {
      k.stream = false;
      k.setNodelay(0, 10, 0, 1);
    });
    m.k.send(new Uint8Array(m.k.mss * 2 + 1));
    m.k.send(new Uint8Array(3));
    m.k.flush(0);
    expect(m.take().map((x) => [x.frg, x.len])).toEqual([
      [2, m.k.mss],
      [1, m.k.mss],
      [0, 1],
      [0, 3],
    ]);
  });
});

describe("trimming what a session did not use", () => {
  /** No congestion window, so a flush sends everything queued. */
  const trimCore = () =>
    core((k) => {
      k.setWndSize(32, 64);
      k.setNodelay(1, 10, 0, 1);
    });
  /** Sends `count` full segments and has them all acknowledged, so they go back to the pool. */
  const cycle = (k: KcpCore, take: () => DecodedSegment[], count: number, now: number) => {
    k.send(new Uint8Array(count * k.mss));
    k.flush(now, false);
    const sent = take().filter((x) => x.cmd === Cmd.Push);
    expect(sent).toHaveLength(count);
    k.input(seg(Cmd.Ack, { sn: sent.at(-1)!.sn, ts: now, una: sent.at(-1)!.sn + 1 }), now);
    expect(k.waitSnd).toBe(0);
  };

  test("segments that sat in the pool a whole period are given back, the ones in use stay", () => {
    const { k, take } = trimCore();
    cycle(k, take, 10, 0);
    expect(k.pooledSegments).toBe(10);
    k.trim(0); // the first call starts the period
    cycle(k, take, 3, 100); // three taken from the pool and returned: seven sat there all along
    k.trim(TRIM_PERIOD_MS - 1);
    expect(k.pooledSegments).toBe(10);
    k.trim(TRIM_PERIOD_MS);
    expect(k.pooledSegments).toBe(3);
    // A keepalive-like trickle: one segment per period keeps one.
    cycle(k, take, 1, 1500);
    k.trim(2 * TRIM_PERIOD_MS);
    expect(k.pooledSegments).toBe(1);
    k.trim(3 * TRIM_PERIOD_MS);
    expect(k.pooledSegments).toBe(0);
    // New segments come as needed.
    cycle(k, take, 2, 3500);
    expect(k.pooledSegments).toBe(2);
  });

  test("a receive slab beyond the first size goes once less than that arrived in a period; new ones start at 4 KiB", () => {
    const { k } = trimCore();
    const push = (sn: number, len: number) => seg(Cmd.Push, { sn, ts: sn, len, data: new Uint8Array(len).fill(sn) });
    let sn = 0;
    const receive = (count: number, len: number, now: number) => {
      for (let i = 0; i < count; i++) k.input(push(sn++, len), now);
      for (let d = k.recv(); d; d = k.recv());
    };
    receive(1, k.mss, 0);
    expect(k.rxSlabBytesHeld).toBe(4096);
    k.trim(0);
    receive(30, k.mss, 10); // 31 x 176 B: past the first slab and into a second of 8 KiB
    expect(k.rxSlabBytesHeld).toBe(8192);
    k.trim(TRIM_PERIOD_MS); // 5 KiB arrived this period: kept
    expect(k.rxSlabBytesHeld).toBe(8192);
    receive(1, 8, 1100);
    k.trim(2 * TRIM_PERIOD_MS); // 8 bytes: given back
    expect(k.rxSlabBytesHeld).toBe(0);
    receive(1, 8, 2100);
    expect(k.rxSlabBytesHeld).toBe(4096);
    // A first-size slab is kept however little arrives.
    k.trim(3 * TRIM_PERIOD_MS);
    k.trim(4 * TRIM_PERIOD_MS);
    expect(k.rxSlabBytesHeld).toBe(4096);
  });

  test("what was handed out stays readable after its slab is given back", () => {
    const { k } = trimCore();
    k.input(seg(Cmd.Push, { sn: 0, ts: 0, len: 3, data: new Uint8Array([1, 2, 3]) }), 0);
    for (let i = 1; i < 30; i++) k.input(seg(Cmd.Push, { sn: i, ts: i, len: k.mss, data: new Uint8Array(k.mss) }), 0);
    const first = k.recv()!;
    for (let d = k.recv(); d; d = k.recv());
    expect(k.rxSlabBytesHeld).toBe(8192);
    k.trim(0);
    k.trim(TRIM_PERIOD_MS);
    expect(k.rxSlabBytesHeld).toBe(0);
    expect([...first.subarray(0, 3)]).toEqual([1, 2, 3]);
  });
});

describe("window probing", () => {
  test("a zero remote window stops new data and probes at 500 ms, then ×1.5", () => {
    const { k, take } = core((k) => k.setNodelay(1, 10, 2, 1));
    k.input(seg(Cmd.Wins, { wnd: 0 }), 0);
    k.send(new Uint8Array(10));
    k.flush(0);
    expect(take()).toHaveLength(0);
    expect(k.flush(PROBE_INIT - 1)).toBe(10);
    expect(take()).toHaveLength(0);
    k.flush(PROBE_INIT);
    expect(take().map((s) => s.cmd)).toEqual([Cmd.Wask]);
    k.flush(PROBE_INIT + 749);
    expect(take()).toHaveLength(0);
    k.flush(PROBE_INIT + 750);
    expect(take().map((s) => s.cmd)).toEqual([Cmd.Wask]);
    k.input(seg(Cmd.Wins, { wnd: 5 }), 2000);
    k.flush(2000);
    expect(take().map((s) => s.cmd)).toEqual([Cmd.Push]);
  });

  test("with congestion control on, cwnd starts at 1 after the first flush and grows on acks", () => {
    const { k, take } = core();
    k.send(new Uint8Array(k.mss * 4));
    k.flush(0);
    expect(take()).toHaveLength(0);
    expect(k.cwnd).toBe(1);
    k.flush(1);
    expect(take().map((s) => s.sn)).toEqual([0]);
    k.input(seg(Cmd.Ack, { sn: 0, ts: 1, una: 1 }), 5);
    expect(k.cwnd).toBe(2);
    expect(take().map((s) => s.sn)).toEqual([1, 2]);
  });

  test("a WASK is answered by a WINS", () => {
    const { k, take } = core();
    k.input(seg(Cmd.Wask), 0);
    k.flush(0);
    expect(take().map((s) => [s.cmd, s.wnd])).toEqual([[Cmd.Wins, k.rcvWnd]]);
  });
});

describe("input validation (kcp-smux-wire.md §5.1)", () => {
  test("short, foreign, truncated and unknown-command datagrams", () => {
    const { k } = core();
    expect(k.input(new Uint8Array(23), 0)).toBe(InputResult.TooShort);
    const push = seg(Cmd.Push, { sn: 0, len: 2, data: new Uint8Array([7, 8]) });
    const foreign = encodeSegment({ conv: 1, cmd: Cmd.Push, frg: 0, wnd: 1, ts: 0, sn: 1, una: 0, len: 0, data: new Uint8Array(0) });
    expect(k.input(cat(push, foreign, seg(Cmd.Push, { sn: 1, len: 1, data: new Uint8Array([1]) })), 0)).toBe(
      InputResult.ConvMismatch,
    );
    // The segment before the foreign one kept its effect; the one after was ignored.
    expect(k.rcvNxt).toBe(1);
    expect(k.input(push.subarray(0, 25), 0)).toBe(InputResult.Truncated);
    expect(k.input(seg(90), 0)).toBe(InputResult.BadCmd);
    expect(k.stats.inErrors).toBe(4);
  });

  test("random and truncated datagrams never throw and never break the core", () => {
    const { k } = core();
    const rnd = seededRandom(1234);
    const valid = seg(Cmd.Push, { sn: 0, len: 3, data: new Uint8Array([1, 2, 3]) });
    for (let i = 0; i < 20_000; i++) {
      const n = Math.floor(rnd() * 120);
      const d = new Uint8Array(n);
      for (let j = 0; j < n; j++) d[j] = Math.floor(rnd() * 256);
      // Half the cases start with our conv so parsing goes past the first check.
      if (i % 2 === 0 && n >= 4) d.set([0x44, 0x33, 0x22, 0x11], 0);
      k.input(d, i);
      k.input(valid.subarray(0, Math.floor(rnd() * valid.length)), i);
      k.flush(i, i % 3 === 0);
    }
    expect(timediff(k.rcvNxt, 0)).toBeGreaterThanOrEqual(0);
    expect(k.stats.inErrors).toBeGreaterThan(0);
  });
});
