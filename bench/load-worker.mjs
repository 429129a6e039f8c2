// Plain JavaScript so a worker thread can run it without a TypeScript loader.
import { parentPort, workerData } from "node:worker_threads";
import * as hdr from "hdr-histogram-js";
const job = workerData;
let seed = job.seed;
const rand = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
const leaseBody = () => JSON.stringify({
  gpuModel: "H100-SXM",
  gpuCount: [1, 2, 4, 8][Math.floor(rand() * 4)],
  durationHours: 1 + Math.floor(rand() * 4),
  start: new Date(Date.now() + 6e4 + Math.floor(rand() * 30 * 24) * 36e5).toISOString()
});
async function fire(i) {
  const r = job.kind === "health" ? await fetch(`${job.url}/healthz`) : await fetch(`${job.url}/v1/leases`, {
    method: "POST",
    headers: { authorization: job.auth, "content-type": "application/json", "idempotency-key": `${job.tag}-${i}` },
    body: leaseBody()
  });
  await r.arrayBuffer();
  return r.status;
}
const h = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 6e7, numberOfSignificantValueDigits: 3 });
let next = 0;
let ok = 0;
let rejected = 0;
let errors = 0;
const t0 = process.hrtime.bigint();
await Promise.all(Array.from({ length: job.concurrency }, async () => {
  for (; ; ) {
    const i = next++;
    if (i >= job.n) return;
    const s = process.hrtime.bigint();
    const status = await fire(i);
    h.recordValue(Number((process.hrtime.bigint() - s) / 1000n));
    if (status >= 200 && status < 300) ok++;
    else if (status === 409) rejected++;
    else errors++;
  }
}));
const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
parentPort.postMessage({
  requests: job.n,
  ok,
  rejected,
  errors,
  seconds,
  perS: ok / seconds,
  p50ms: h.getValueAtPercentile(50) / 1e3,
  p99ms: h.getValueAtPercentile(99) / 1e3,
  maxms: h.maxValue / 1e3
});
