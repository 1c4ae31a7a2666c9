/**
 * Preloaded into a `paqet run` by bench/lib/profile-tunnel.ts (`bun --preload`): every
 * PAQET_MEMLOG_MS it appends one JSON line of process.memoryUsage() to PAQET_MEMLOG, so the
 * profile can tell JS heap from array buffers from the rest of the RSS. bun:jsc heapStats costs
 * ~20 ms a call, too much to sample by default; PAQET_MEMLOG_TYPES=1 adds its object counts.
 * Nothing here runs in a normal paqet process.
 */
import { heapStats } from "bun:jsc";
import { appendFileSync } from "node:fs";

const file = process.env.PAQET_MEMLOG;
if (file) {
  const every = Number(process.env.PAQET_MEMLOG_MS ?? 500);
  const t0 = Date.now();
  const gc = process.env.PAQET_MEMLOG_GC === "1";
  // Optional: the most numerous JS object types, to see what a full collection has to mark.
  const types = process.env.PAQET_MEMLOG_TYPES === "1";
  const timer = setInterval(() => {
    // Optional: a full collection first, to tell live buffers from garbage not yet collected.
    if (gc) Bun.gc(true);
    const m = process.memoryUsage();
    const line = {
      t: Date.now() - t0,
      rss: m.rss,
      heapUsed: m.heapUsed,
      heapTotal: m.heapTotal,
      external: m.external,
      arrayBuffers: m.arrayBuffers,
      ...(types ? topTypes() : {}),
    };
    appendFileSync(file, `${JSON.stringify(line)}\n`);
  }, every);
  timer.unref();
}

function topTypes(): { objects: number; types: Record<string, number> } {
  const h = heapStats();
  const top = Object.entries(h.objectTypeCounts)
    .sort((a, b) => b[1] - a[1])
    .slice(0, 15);
  return { objects: h.objectCount, types: Object.fromEntries(top) };
}
