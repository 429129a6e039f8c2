/** Prometheus metrics (prom-client), one registry per server so tests do not share counters. */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { ControlPlane } from '../app/control-plane.js';

export class Metrics {
  readonly registry = new Registry();
  readonly httpDuration = new Histogram({
    name: 'neocloud_http_request_duration_seconds',
    help: 'HTTP request latency by route, method and status',
    labelNames: ['route', 'method', 'status'] as const,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5],
    registers: [this.registry],
  });
  readonly leasesCreated = new Counter({
    name: 'neocloud_leases_created_total', help: 'Leases created', labelNames: ['gpu_model', 'class'] as const, registers: [this.registry],
  });
  readonly leaseRejections = new Counter({
    name: 'neocloud_lease_capacity_rejections_total', help: 'Lease requests refused for lack of capacity', labelNames: ['gpu_model'] as const, registers: [this.registry],
  });

  constructor(cp: () => ControlPlane | undefined) {
    collectDefaultMetrics({ register: this.registry });
    const gpus = new Gauge({
      name: 'neocloud_gpus', help: 'GPUs by site, model and whether leased now', labelNames: ['site', 'gpu_model', 'leased'] as const,
      registers: [this.registry],
      collect() {
        const c = cp();
        if (!c) return;
        this.reset();
        for (const u of c.leases.usageNow()) {
          for (const [model, v] of Object.entries(u.byModel)) {
            this.set({ site: u.siteId, gpu_model: model, leased: 'true' }, v.leased);
            this.set({ site: u.siteId, gpu_model: model, leased: 'false' }, v.installed - v.leased);
          }
        }
      },
    });
    void gpus;
    // Node agents: heartbeats by transport, refusals by reason, measured power per site.
    const heartbeats = new Gauge({
      name: 'neocloud_agent_heartbeats', help: 'Heartbeats taken since start, by transport (a counter read from the telemetry service)', labelNames: ['transport'] as const,
      registers: [this.registry],
      collect() {
        const c = cp();
        if (!c) return;
        const m = c.telemetry.metrics();
        this.set({ transport: 'http' }, m.via.http);
        this.set({ transport: 'nats' }, m.via.nats);
      },
    });
    const refused = new Gauge({
      name: 'neocloud_agent_messages_refused', help: 'Agent messages refused since start, by reason', labelNames: ['reason'] as const,
      registers: [this.registry],
      collect() {
        const c = cp();
        if (!c) return;
        for (const [reason, n] of Object.entries(c.telemetry.metrics().rejected)) this.set({ reason }, n);
      },
    });
    const measured = new Gauge({
      name: 'neocloud_measured_power_watts', help: 'Measured power per site: GPU boards, and facility (boards × server overhead × PUE)', labelNames: ['site', 'scope'] as const,
      registers: [this.registry],
      collect() {
        const c = cp();
        if (!c) return;
        this.reset();
        for (const [site, p] of Object.entries(c.telemetry.measuredPower().sites)) {
          this.set({ site, scope: 'gpu' }, p.gpuW);
          this.set({ site, scope: 'facility' }, p.facilityW);
        }
      },
    });
    const faulty = new Gauge({
      name: 'neocloud_gpu_samples_faulty', help: 'GPU samples taken since start with impossible readings (those fields refused, the GPU marked faulty, the heartbeat kept)',
      registers: [this.registry],
      collect() {
        const c = cp();
        if (c) this.set(c.telemetry.metrics().refusedReadings);
      },
    });
    const healthLeader = new Gauge({
      name: 'neocloud_health_leader', help: '1 when this control plane is its cell\'s health leader (the one that judges missed heartbeats), else 0',
      registers: [this.registry],
      collect() {
        const c = cp();
        if (c) this.set(c.telemetry.metrics().health.leader ? 1 : 0);
      },
    });
    void heartbeats; void refused; void measured; void faulty; void healthLeader;
  }
}
