// The simulated agents of bench/telemetry.ts, on a worker thread of the same process (plain
// JavaScript: a worker runs it without a TypeScript loader), so that building and signing 12,500
// agents' heartbeats does not share the control plane's event loop. Each heartbeat is what
// src/agent/agent.ts sends: the same JSON, its HMAC-SHA256 (Nc-Agent / Nc-Sig headers) and
// Nats-Msg-Id = agent-seq.
//   js:   JetStream publish, waiting for its ack (at most `window` outstanding);
//   core: a plain publish the stream captures (same headers, same dedupe id), flushed every `window`.
import { createHmac } from "node:crypto";
import { parentPort, workerData } from "node:worker_threads";
import { connect, headers as natsHeaders, jwtAuthenticator } from "nats";

const { natsUrl, creds, agents, gpuJson, mode, window, seqStart } = workerData;
// creds (--nats-auth): one NATS user allowed to publish the cell's telemetry only (a real agent's allows its own subject).
const nc = await connect({ servers: natsUrl, name: "bench-agents", ...(creds ? { authenticator: jwtAuthenticator(creds.jwt, new TextEncoder().encode(creds.seed)) } : {}) });
const js = nc.jetstream();
const enc = new TextEncoder();
let seq = seqStart; // above the main thread's baseline messages: a lower seq is a duplicate
let inFlight = 0;
let failed = 0;
let sinceFlush = 0;
const waiters = [];

async function publish(i) {
  const a = agents[i];
  const s = seq++;
  const data = enc.encode(`{"v":1,"nodeId":"${a.nodeId}","agentId":"${a.id}","seq":${s},"sentAtMs":${Date.now()},"intervalMs":10000,"adminState":"none","discoveryError":null,"gpus":${gpuJson[i]}}`);
  const h = natsHeaders();
  h.set("Nc-Agent", a.id);
  h.set("Nc-Sig", createHmac("sha256", a.key).update(data).digest("hex"));
  if (mode === "core") {
    h.set("Nats-Msg-Id", `${a.id}-${s}`);
    nc.publish(a.subject, data, { headers: h });
    if (++sinceFlush >= window) { sinceFlush = 0; await nc.flush(); }
    return;
  }
  while (inFlight >= window) await new Promise((r) => waiters.push(r));
  inFlight++;
  js.publish(a.subject, data, { headers: h, msgID: `${a.id}-${s}`, timeout: 30_000 })
    .catch(() => { failed++; })
    .finally(() => { inFlight--; waiters.shift()?.(); });
}

async function drainOutstanding() {
  if (mode === "core") await nc.flush();
  while (inFlight > 0) await new Promise((r) => waiters.push(r));
}

parentPort.on("message", async (job) => {
  const t0 = performance.now();
  let sent = 0;
  const n = agents.length;
  if (job.cmd === "paced") {
    const total = Math.round(job.rate * job.seconds);
    let i = 0;
    while (sent < total) {
      const due = Math.min(total, Math.floor(((performance.now() - t0) / 1000) * job.rate));
      while (sent < due) { await publish(i); i = (i + 1) % n; sent++; }
      await new Promise((r) => setTimeout(r, 2));
    }
  } else if (job.cmd === "burst") {
    const total = n * job.rounds;
    for (; sent < total; sent++) await publish(sent % n);
  } else if (job.cmd === "stop") {
    await nc.drain();
    parentPort.postMessage({ stopped: true });
    return;
  }
  await drainOutstanding();
  parentPort.postMessage({ sent, failed, publishSeconds: (performance.now() - t0) / 1000 });
});
parentPort.postMessage({ ready: true });
