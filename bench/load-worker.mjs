// Plain JavaScript so a worker thread can run it without a TypeScript loader.
import { parentPort, workerData } from "node:worker_threads";
import * as hdr from "hdr-histogram-js";
import http from "node:http";
const job = workerData;
let seed = job.seed;
const rand = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
const pick = (xs) => xs[Math.floor(rand() * xs.length)];
/**
 * `calendar`: 1–8 GPUs for 1–4 h at a random hour of the next 30 days (the calendar fills).
 * `loaded` (issue 8): the mix a busy fleet sees — on-demand now (preempts spot when full), spot
 * now (backfills or is refused), reserved blocks ahead, and on-demand that queues when full.
 */
const leaseBody = job.mix === "loaded" ? () => {
  const r = rand();
  if (r < 0.45) return JSON.stringify({ gpuModel: "H100-SXM", gpuCount: pick([1, 2, 4, 8]), durationHours: 1 + Math.floor(rand() * 4) });
  if (r < 0.75) return JSON.stringify({ gpuModel: "H100-SXM", gpuCount: pick([1, 2, 4, 8]), durationHours: 1 + Math.floor(rand() * 8), class: "spot" });
  if (r < 0.9) {
    return JSON.stringify({
      gpuModel: "H100-SXM", gpuCount: pick([8, 16]), durationHours: 24, class: "reserved", placement: "same-fabric",
      start: new Date(Date.now() + (1 + Math.floor(rand() * 30 * 24)) * 36e5).toISOString()
    });
  }
  return JSON.stringify({ gpuModel: "H100-SXM", gpuCount: pick([1, 2, 4, 8]), durationHours: 1 + Math.floor(rand() * 2), queue: true, maxWaitHours: 1 });
} : () => JSON.stringify({
  gpuModel: "H100-SXM",
  gpuCount: [1, 2, 4, 8][Math.floor(rand() * 4)],
  durationHours: 1 + Math.floor(rand() * 4),
  start: new Date(Date.now() + 6e4 + Math.floor(rand() * 30 * 24) * 36e5).toISOString()
});
// node:http with a keep-alive agent: far less client CPU than fetch, which matters when the
// load generator shares the machine's two cores with the server and PostgreSQL.
const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });
const target = new URL(job.url);
function fire(i) {
  return new Promise((resolve, reject) => {
    const body = job.kind === "health" ? undefined : leaseBody();
    const req = http.request({
      agent, host: target.hostname, port: target.port,
      method: job.kind === "health" ? "GET" : "POST",
      path: job.kind === "health" ? "/healthz" : "/v1/leases",
      headers: body === undefined ? {} : {
        authorization: job.auth, "content-type": "application/json", "idempotency-key": `${job.tag}-${i}`,
        "content-length": Buffer.byteLength(body)
      }
    }, (res) => {
      res.resume();
      res.on("end", () => resolve(res.statusCode ?? 0));
      res.on("error", reject);
    });
    // A reset or refused connection is an error of this request, counted (status 0), not the end of the run.
    req.on("error", () => resolve(0));
    req.end(body);
  });
}
const h = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 6e7, numberOfSignificantValueDigits: 3 });
let ok = 0;
let rejected = 0;
let errors = 0;
const count = (status) => {
  if (status >= 200 && status < 300) ok++;
  else if (status === 409) rejected++;
  else errors++;
};
const t0 = process.hrtime.bigint();
if (job.rate) {
  // Open loop: request i is due at t0 + i / rate whether or not earlier ones have answered, and
  // its latency counts from when it was due (no coordinated omission).
  const periodNs = 1e9 / job.rate;
  let next = 0;
  const inflight = [];
  await new Promise((resolve) => {
    const tick = () => {
      const now = Number(process.hrtime.bigint() - t0);
      while (next < job.n && next * periodNs <= now) {
        const due = BigInt(Math.round(next * periodNs));
        const i = next++;
        inflight.push(fire(i).then((status) => {
          h.recordValue(Number((process.hrtime.bigint() - t0 - due) / 1000n));
          count(status);
        }));
      }
      if (next < job.n) setTimeout(tick, 1);
      else resolve();
    };
    tick();
  });
  await Promise.all(inflight);
} else {
  let next = 0;
  await Promise.all(Array.from({ length: job.concurrency }, async () => {
    for (; ; ) {
      const i = next++;
      if (i >= job.n) return;
      const s = process.hrtime.bigint();
      const status = await fire(i);
      h.recordValue(Number((process.hrtime.bigint() - s) / 1000n));
      count(status);
    }
  }));
}
const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
parentPort.postMessage({
  requests: job.n,
  ok,
  rejected,
  errors,
  seconds,
  perS: ok / seconds,
  answeredPerS: (ok + rejected) / seconds,
  p50ms: h.getValueAtPercentile(50) / 1e3,
  p99ms: h.getValueAtPercentile(99) / 1e3,
  maxms: h.maxValue / 1e3
});
