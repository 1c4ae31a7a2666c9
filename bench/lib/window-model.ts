/**
 * What kcp-go's window rules allow on a lossy, delayed link, independent of any implementation's
 * speed: an event simulation of one bulk KCP transfer with the sender's and receiver's bookkeeping
 * reduced to what limits throughput (kcp-smux-wire.md §1):
 *   - the sender keeps at most `window` segments past snd_una in flight (min(snd_wnd, rmt_wnd); the
 *     receiver reads at once, so rmt_wnd is its whole rcv_wnd) and sends at `lineMiBps`;
 *   - the receiver accepts sn < rcv_nxt + rcv_wnd and acknowledges each segment, ACKs gathered
 *     into one datagram per `ackGapMs` (the flush rule's ACK pacing);
 *   - a segment is resent when `resend` ACK datagrams acknowledged later segments (fast resend) or
 *     when its RTO runs out (100 ms, doubling per transmission: nodelay 0);
 *   - every datagram, data or ACK, is lost with probability `loss` and otherwise arrives after
 *     `delayMs`.
 * The tunnel bench prints its result beside the impaired profile: the throughput a perfect
 * implementation of the default configuration would reach on that link.
 */
import { DueHeap } from "../../src/lib/due-heap.ts";
import { seededRandom } from "../../src/socket/lossy.ts";

export interface WindowModel {
  readonly window: number;
  readonly delayMs: number;
  readonly loss: number;
  readonly mib: number;
  readonly seed: number;
  /** Payload per segment: MTU 1350 − 20 (crypto header) − 24 (KCP header) − smux's share. */
  readonly segmentBytes?: number;
  readonly lineMiBps?: number;
  readonly ackGapMs?: number;
  readonly resend?: number;
  readonly minRtoMs?: number;
}

const enum Ev {
  DataArrives,
  AckFlush,
  AcksArrive,
  Tick,
}

interface Event {
  due: number;
  kind: Ev;
  sn: number;
  acks?: number[];
  una?: number;
}

/** MiB/s of one simulated transfer of `m.mib` MiB. */
export function windowModelMiBps(m: WindowModel): number {
  const segBytes = m.segmentBytes ?? 1306;
  const txSec = segBytes / ((m.lineMiBps ?? 100) * 1048576);
  const delay = m.delayMs / 1000;
  const ackGap = (m.ackGapMs ?? 2) / 1000;
  const resend = m.resend ?? 2;
  const minRto = (m.minRtoMs ?? 100) / 1000;
  const total = Math.ceil((m.mib * 1048576) / segBytes);
  const rnd = seededRandom(m.seed);
  const ev = new DueHeap<Event>();

  let una = 0;
  let nxt = 0;
  let linkFree = 0;
  const acked = new Uint8Array(total);
  const fast = new Uint16Array(total);
  const xmit = new Uint16Array(total);
  const rtoAt = new Float64Array(total);

  const send = (sn: number, now: number): void => {
    const start = Math.max(now, linkFree);
    linkFree = start + txSec;
    xmit[sn]!++;
    rtoAt[sn] = start + minRto * 2 ** (xmit[sn]! - 1);
    if (rnd() >= m.loss) ev.push({ due: start + delay, kind: Ev.DataArrives, sn });
  };
  const flush = (now: number): void => {
    for (let sn = una; sn < nxt; sn++) {
      if (acked[sn]) continue;
      if (fast[sn]! >= resend) {
        fast[sn] = 0;
        send(sn, now);
      } else if (rtoAt[sn]! <= now) send(sn, now);
    }
    while (nxt < total && nxt < una + m.window) send(nxt++, now);
  };

  const received = new Uint8Array(total);
  let rcvNxt = 0;
  let pending: number[] = [];
  let ackScheduled = false;
  let lastAckFlush = -Infinity;

  flush(0);
  ev.push({ due: 0.01, kind: Ev.Tick, sn: 0 });
  let t = 0;
  while (una < total && ev.size > 0) {
    const e = ev.pop()!;
    t = e.due;
    switch (e.kind) {
      case Ev.DataArrives:
        if (e.sn < rcvNxt + m.window) {
          pending.push(e.sn);
          received[e.sn] = 1;
          while (rcvNxt < total && received[rcvNxt]) rcvNxt++;
        }
        if (!ackScheduled) {
          ackScheduled = true;
          ev.push({ due: Math.max(t, lastAckFlush + ackGap), kind: Ev.AckFlush, sn: 0 });
        }
        break;
      case Ev.AckFlush:
        ackScheduled = false;
        lastAckFlush = t;
        if (pending.length > 0 && rnd() >= m.loss) ev.push({ due: t + delay, kind: Ev.AcksArrive, sn: 0, acks: pending, una: rcvNxt });
        pending = [];
        break;
      case Ev.AcksArrive: {
        let max = -1;
        for (const sn of e.acks!) {
          if (!acked[sn]) {
            acked[sn] = 1;
            if (sn > max) max = sn;
          }
        }
        while (una < nxt && (acked[una] || una < e.una!)) acked[una++] = 1;
        for (let sn = una; sn < max; sn++) if (!acked[sn]) fast[sn]!++;
        flush(t);
        break;
      }
      case Ev.Tick:
        flush(t);
        ev.push({ due: t + 0.01, kind: Ev.Tick, sn: 0 });
        break;
    }
  }
  return m.mib / t;
}
