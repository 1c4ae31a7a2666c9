/**
 * A transparent layer-2 relay with a fixed one-way delay and random loss per direction: the
 * stand-in for `tc netem`, which this kernel lacks. Run it inside the middle namespace of a relay
 * bed (src/cli/demo/netbed.ts), as root:
 *
 *   bun bench/lib/relay.ts IF_A IF_B DELAY_MS LOSS_PCT [LIMIT_PKTS]
 *
 * Frames are copied verbatim (MACs untouched), so the endpoints keep addressing each other as on
 * a direct link. Each direction captures inbound frames on one interface (libpcap, promiscuous,
 * through the shared capture worker), drops LOSS_PCT of them at random, and queues the rest in a
 * preallocated FIFO (LIMIT_PKTS slots, default 10000; overflow is counted and dropped) until
 * DELAY_MS have passed, then injects them on the other interface. A send the kernel refuses is
 * retried 1 ms later rather than lost. Prints `relay ready` once both captures run; on SIGTERM or
 * SIGINT prints one JSON line of counters and exits 0.
 */
import { Capture, PcapHandle } from "../../ffi/index.ts";

const SNAP = 2048;

interface DirStats {
  rx: number;
  fwd: number;
  lost: number;
  overflow: number;
  toobig: number;
  retries: number;
}

class Direction {
  private readonly slots: Uint8Array[];
  private readonly lengths: Int32Array;
  private readonly due: Float64Array;
  private head = 0;
  private count = 0;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private timerAt = Number.POSITIVE_INFINITY;
  readonly stats: DirStats = { rx: 0, fwd: 0, lost: 0, overflow: 0, toobig: 0, retries: 0 };
  readonly capture: Capture;

  constructor(
    readonly name: string,
    inIf: string,
    private readonly out: PcapHandle,
    private readonly delayMs: number,
    private readonly lossRate: number,
    private readonly cap: number,
  ) {
    this.slots = Array.from({ length: cap }, () => new Uint8Array(SNAP));
    this.lengths = new Int32Array(cap);
    this.due = new Float64Array(cap);
    const handle = PcapHandle.open({
      device: inIf,
      snaplen: SNAP,
      promisc: true,
      immediate: true,
      bufferSize: 16 << 20,
      direction: "in",
    });
    this.capture = new Capture({ handle, onFrame: (frame, offset, length, wire) => this.onFrame(frame, offset, length, wire) });
  }

  private onFrame(frame: Uint8Array, offset: number, length: number, wireLength: number): void {
    this.stats.rx++;
    if (wireLength > SNAP || length < wireLength) {
      this.stats.toobig++;
      return;
    }
    if (this.lossRate > 0 && Math.random() < this.lossRate) {
      this.stats.lost++;
      return;
    }
    if (this.count >= this.cap) {
      this.stats.overflow++;
      return;
    }
    const i = (this.head + this.count) % this.cap;
    this.slots[i]!.set(frame.subarray(offset, offset + length));
    this.lengths[i] = length;
    this.due[i] = performance.now() + this.delayMs;
    this.count++;
    if (this.delayMs <= 0) this.flush();
    else this.arm(this.due[i]!);
  }

  private arm(at: number): void {
    if (this.timer !== undefined && this.timerAt <= at) return;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timerAt = at;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.timerAt = Number.POSITIVE_INFINITY;
      this.flush();
    }, Math.max(0, at - performance.now()));
  }

  private flush(): void {
    const now = performance.now();
    while (this.count > 0) {
      const i = this.head;
      if (this.due[i]! > now) {
        this.arm(this.due[i]!);
        return;
      }
      try {
        this.out.send(this.slots[i]!, this.lengths[i]!);
      } catch {
        // ENOBUFS and the like: the link is busy; try the same frame again shortly.
        this.stats.retries++;
        this.arm(now + 1);
        return;
      }
      this.stats.fwd++;
      this.head = (this.head + 1) % this.cap;
      this.count--;
    }
  }

  async close(): Promise<void> {
    if (this.timer !== undefined) clearTimeout(this.timer);
    await this.capture.close();
  }
}

if (import.meta.main) {
  const [ifA, ifB, delayText, lossText, limitText] = process.argv.slice(2);
  const delayMs = Number(delayText);
  const lossPct = Number(lossText);
  const limit = Number(limitText ?? 10000);
  if (!ifA || !ifB || !Number.isFinite(delayMs) || delayMs < 0 || !Number.isFinite(lossPct) || lossPct < 0 || lossPct > 100 || !(limit >= 1)) {
    process.stderr.write("usage: relay.ts IF_A IF_B DELAY_MS LOSS_PCT [LIMIT_PKTS]\n");
    process.exit(2);
  }
  const sendOn = (device: string) =>
    PcapHandle.open({ device, snaplen: 128, bufferSize: 4 << 20, direction: "in", filter: "less 1" });
  const outA = sendOn(ifA);
  const outB = sendOn(ifB);
  const ab = new Direction("a->b", ifA, outB, delayMs, lossPct / 100, limit);
  const ba = new Direction("b->a", ifB, outA, delayMs, lossPct / 100, limit);
  await Promise.all([ab.capture.ready, ba.capture.ready]);
  process.stdout.write(`relay ready ${ifA} <-> ${ifB} delay ${delayMs} ms loss ${lossPct} %\n`);
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    await Promise.all([ab.close(), ba.close()]);
    outA.close();
    outB.close();
    process.stdout.write(`${JSON.stringify({ "a->b": ab.stats, "b->a": ba.stats })}\n`);
    process.exit(0);
  };
  process.on("SIGTERM", () => void stop());
  process.on("SIGINT", () => void stop());
}
