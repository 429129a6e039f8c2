#!/usr/bin/env node
/**
 * `neocloud` — the control plane (`serve`) and a client for its API. The API URL and key come
 * from --url/--api-key or NEOCLOUD_URL/NEOCLOUD_API_KEY. Tables for people, --json for scripts.
 */
import { readFileSync } from 'node:fs';
import type { LeaseView } from '../leasing/lease-schemas.js';
import type { SchedulerStatus } from '../leasing/status.js';
import type { IssuedKey, KeyView, RotatedAdminKey, WhoAmI } from '../tenancy/tenant-service.js';
import { Command, Option } from 'commander';
import { ApiClient, ApiError } from './client.js';
import { registerBillingCommands } from './billing-commands.js';
import { mw, table, usd } from './table.js';

const program = new Command();
program
  .name('neocloud')
  .description('neocloud: the control plane of an AI compute cloud')
  .addOption(new Option('--url <url>', 'control plane URL').env('NEOCLOUD_URL').default('http://localhost:7070'))
  .addOption(new Option('--api-key <key>', 'API key (admin or tenant)').env('NEOCLOUD_API_KEY'))
  .option('--json', 'print JSON instead of tables', false);

const client = (): ApiClient => {
  const o = program.opts<{ url: string; apiKey?: string }>();
  return new ApiClient(o.url, o.apiKey);
};
const asJson = (): boolean => program.opts<{ json: boolean }>().json;
const print = (data: unknown, human: () => string): void => {
  process.stdout.write(`${asJson() ? JSON.stringify(data, null, 2) : human()}\n`);
};

program
  .command('serve')
  .description('run the control plane with the web console (embedded PostgreSQL unless DATABASE_URL is set)')
  // Defaults and the environment are read and checked in one place (src/app/config.ts).
  .addOption(new Option('--port <port>', 'port (env PORT, default 7070)'))
  .addOption(new Option('--host <host>', 'interface to bind (env HOST, default 127.0.0.1)'))
  .addOption(new Option('--data-dir <dir>', 'PGlite data folder (env NEOCLOUD_DATA_DIR, default .neocloud/data)'))
  .action(async (o: { port?: string; host?: string; dataDir?: string }) => {
    const { serve } = await import('./serve.js');
    await serve({ port: o.port, host: o.host, dataDir: o.dataDir });
  });

program
  .command('nats-config')
  .description("print the nats-server settings that trust this control plane's NATS authority (creates it on first use); include them in the server's config")
  .addOption(new Option('--data-dir <dir>', 'PGlite data folder (env NEOCLOUD_DATA_DIR, default .neocloud/data)'))
  .action(async (o: { dataDir?: string }) => {
    const { loadConfig } = await import('../app/config.js');
    const { openDb } = await import('../store/index.js');
    const { Settings } = await import('../app/settings.js');
    const { loadNatsAuthority } = await import('../app/nats-authority.js');
    const config = loadConfig(process.env, o.dataDir !== undefined ? { NEOCLOUD_DATA_DIR: o.dataDir } : {});
    const handle = await openDb({ databaseUrl: config.DATABASE_URL, dataDir: config.DATABASE_URL ? undefined : config.NEOCLOUD_DATA_DIR });
    try {
      process.stdout.write((await loadNatsAuthority(new Settings(handle.db))).serverConfig());
    } finally {
      await handle.close();
    }
  });

const fleet = program.command('fleet').description('fleet inventory');
fleet
  .command('apply <file>')
  .description('apply a fleet spec (YAML or JSON); applying the same spec twice changes nothing')
  .action(async (file: string) => {
    const text = readFileSync(file, 'utf8');
    const isJson = file.endsWith('.json');
    type Applied = { changed: boolean; summary: Record<string, { created: number; updated: number; deleted: number }> };
    type Job = { id: string; state: 'running' | 'succeeded' | 'failed'; phase: string; progress: number; result: Applied | null; error: Record<string, unknown> | null };
    const api = client();
    const first = await api.request<Applied | Job>('PUT', '/v1/fleet', text, isJson ? 'application/json' : 'application/yaml');
    // A large apply answers 202 with a job: follow it until it ends (the server keeps serving meanwhile).
    let res: Applied;
    if ('state' in first) {
      let job: Job = first;
      while (job.state === 'running') {
        if (!asJson()) process.stderr.write(`applying: ${job.phase} ${Math.round(job.progress * 100)}%\n`);
        await new Promise((r) => setTimeout(r, 1_000));
        job = await api.request<Job>('GET', `/v1/fleet/jobs/${job.id}`);
      }
      if (job.state === 'failed') throw new ApiError(409, job.error ?? { detail: 'the fleet apply failed' });
      res = job.result!;
    } else {
      res = first;
    }
    print(res, () => {
      if (!res.changed) return 'fleet unchanged: it already matches the spec';
      const rows = Object.entries(res.summary)
        .filter(([, v]) => v.created + v.updated + v.deleted > 0)
        .map(([k, v]) => [k, v.created, v.updated, v.deleted]);
      return `fleet updated\n${table(['kind', 'created', 'updated', 'deleted'], rows)}`;
    });
  });

interface FleetOverview {
  measured?: { totals: { gpuW: number; facilityW: number; reportingNodes: number }; sites: Record<string, { gpuW: number; facilityW: number; reportingNodes: number }> };
  totals: { installedGpus: number; runnableGpus: number; leasedGpus: number; leasedShare: number; powerCapW: number; leasedW: number };
  sites: {
    id: string; region: string; powerCapW: number; pue: number; installedGpus: number; runnableGpus: number; fullLoadW: number;
    gpusByModel: Record<string, number>; nodesByState: Record<string, number>; usage?: { leasedGpus: number; leasedW: number };
  }[];
}
fleet
  .command('show')
  .description('sites, power and GPUs')
  .action(async () => {
    const f = await client().request<FleetOverview>('GET', '/v1/fleet');
    print(f, () => {
      const rows = f.sites.map((s) => [
        s.id, s.region, Object.entries(s.gpusByModel).map(([m, n]) => `${n} ${m}`).join(', '),
        s.installedGpus, s.runnableGpus, s.usage?.leasedGpus ?? 0, `${mw(s.usage?.leasedW ?? 0)} / ${mw(s.powerCapW)}`,
        f.measured?.sites[s.id]?.reportingNodes ? `${mw(f.measured.sites[s.id]!.facilityW)} (${f.measured.sites[s.id]!.reportingNodes} nodes)` : '-', s.pue,
        `${s.nodesByState['ready'] ?? 0}/${s.nodesByState['draining'] ?? 0}/${s.nodesByState['down'] ?? 0}`,
      ]);
      const t = f.totals;
      return `${table(['site', 'region', 'gpus', 'installed', 'power-runnable', 'leased', 'leased power / cap', 'measured', 'pue', 'nodes r/d/x'], rows)}\n` +
        `total: ${t.installedGpus} GPUs installed, ${t.runnableGpus} runnable under power caps, ${t.leasedGpus} leased now (${(t.leasedShare * 100).toFixed(1)}%)`;
    });
  });

interface NodeOut {
  nodeId: string; state: string; admin: string | null; healthReason: string | null; healthSince: string | null;
  agent: { agentId: string; lastSeenAt: string | null; seq: number | null; acknowledged: string | null } | null;
  measured: { gpuW: number; facilityW: number } | null;
  gpus: { uuid: string; index: number; powerW: number | null; utilizationPct: number | null; temperatureC: number | null }[];
}
const nodeText = (n: NodeOut): string =>
  `node ${n.nodeId}: ${n.state}${n.admin ? ` (operator: ${n.admin})` : ''}${n.healthReason ? ` — ${n.healthReason} since ${n.healthSince}` : ''}\n` +
  (n.agent ? `agent ${n.agent.agentId}, last heartbeat ${n.agent.lastSeenAt ?? 'never'}, acknowledged: ${n.agent.acknowledged ?? '-'}\n` : 'no agent enrolled\n') +
  (n.measured ? `measured: ${Math.round(n.measured.gpuW)} W on the GPUs, ${Math.round(n.measured.facilityW)} W at the facility\n` : '') +
  (n.gpus.length ? table(['gpu', 'uuid', 'power W', 'util %', '°C'], n.gpus.map((g) => [g.index, g.uuid, g.powerW ?? '-', g.utilizationPct ?? '-', g.temperatureC ?? '-'])) : '');

const node = program.command('node').description('a node: its state, agent and readings; drain, cordon, resume, recover; enrolment tokens');
node.command('show <id>').description('state, conditions, agent and the latest reading per GPU').action(async (id: string) => {
  const n = await client().request<NodeOut>('GET', `/v1/nodes/${encodeURIComponent(id)}`);
  print(n, () => nodeText(n));
});
for (const [op, what] of [
  ['drain', 'no new leases; running ones finish (reaches the agent)'],
  ['cordon', 'out of service now: its leases are re-placed (reaches the agent)'],
  ['resume', 'undo drain or cordon'],
  ['recover', 'clear a health verdict after repair'],
] as const) {
  node.command(`${op} <id>`).description(what).action(async (id: string) => {
    const n = await client().request<NodeOut>('POST', `/v1/nodes/${encodeURIComponent(id)}/${op}`, {});
    print(n, () => nodeText(n));
  });
}
node.command('token <id>').description('a one-time enrolment token for the agent of this node (shown once)').action(async (id: string) => {
  const t = await client().request<{ tokenId: string; nodeId: string; token: string; expiresAt: string }>('POST', `/v1/nodes/${encodeURIComponent(id)}/enrolment-tokens`, {});
  print(t, () => `enrolment token for ${t.nodeId} (one use, until ${t.expiresAt}):\n  ${t.token}\n` +
    `on the node: neocloud agent --node-id ${t.nodeId} --url <control plane URL> --token <token>`);
});

program.command('agent-revoke <agentId>').description("revoke a node agent's credential at once").action(async (agentId: string) => {
  const r = await client().request<{ agentId: string; nodeId: string; revokedAt: string }>('POST', `/v1/agents/${encodeURIComponent(agentId)}/revoke`, {});
  print(r, () => `agent ${r.agentId} of node ${r.nodeId} revoked at ${r.revokedAt}`);
});

program.command('agent').description('run the node agent (see `neocloud agent --help`)');

const tenants = program.command('tenants').description('tenants and their API keys');
tenants
  .command('create <name>')
  .description('create a tenant; prints its API key once')
  .action(async (name: string) => {
    const res = await client().request<{ tenant: { id: string; name: string }; apiKey: string }>('POST', '/v1/tenants', { name });
    print(res, () => `tenant ${res.tenant.name} (${res.tenant.id})\napi key (shown once, store it now): ${res.apiKey}`);
  });
tenants
  .command('list')
  .action(async () => {
    const res = await client().all<{ tenants: { id: string; name: string; createdAt: string }[] }>('/v1/tenants', 'tenants');
    print(res, () => table(['id', 'name', 'created'], res.tenants.map((t) => [t.id, t.name, t.createdAt])));
  });

/** GET /v1/whoami and the key views of /v1/tenants/{id}/keys and /v1/admin/keys: the server's types. */
type KeyOut = KeyView;
const keyPath = (tenantId: string, rest = ''): string => `/v1/tenants/${encodeURIComponent(tenantId)}/keys${rest}`;
const KEY_HEAD = ['id', 'prefix', 'created', 'last used', 'status'];
const keyRow = (k: KeyOut, inUse: string | null): string[] => [
  k.id, k.prefix ? `${k.prefix}…` : '-', k.createdAt, k.lastUsedAt ?? 'never',
  k.revokedAt ? `revoked ${k.revokedAt}` : k.id === inUse ? 'active (this key)' : 'active',
];
/** Who calls, and the tenant a keys command acts on: --tenant, else the calling tenant key's own; the operator must name one. */
async function keysTenant(c: ApiClient, o: { tenant?: string }, what: 'create' | 'revoke'): Promise<{ me: WhoAmI; tenantId: string }> {
  const me = await c.request<WhoAmI>('GET', '/v1/whoami');
  const tenantId = o.tenant ?? (me.kind === 'tenant' ? me.tenantId : null);
  if (tenantId) return { me, tenantId };
  throw new Error(`--tenant <id> is required with the admin key to ${what} a tenant's key` +
    (what === 'create' ? ' (for a new admin key: neocloud keys rotate-admin)' : ''));
}

const keys = program.command('keys').description('API keys: list, create and revoke; rotate the admin key');
keys
  .command('list')
  .description("a tenant key: its tenant's keys; the admin key: the admin keys, or a tenant's with --tenant")
  .option('--tenant <id>', "list this tenant's keys")
  .action(async (o: { tenant?: string }) => {
    const c = client();
    const me = await c.request<WhoAmI>('GET', '/v1/whoami');
    const tenantId = o.tenant ?? (me.kind === 'tenant' ? me.tenantId : null);
    const res = await c.all<{ keys: KeyOut[] }>(tenantId ? keyPath(tenantId) : '/v1/admin/keys', 'keys');
    print(res, () => `${tenantId ? `keys of tenant ${tenantId}` : 'admin keys'}\n` +
      (res.keys.length === 0 ? 'none' : table(KEY_HEAD, res.keys.map((k) => keyRow(k, me.keyId)))));
  });
keys
  .command('create')
  .description('issue another key for a tenant; prints the secret once')
  .option('--tenant <id>', 'operator: the tenant (a tenant key creates its own)')
  .action(async (o: { tenant?: string }) => {
    const c = client();
    const { tenantId } = await keysTenant(c, o, 'create');
    const res = await c.request<IssuedKey>('POST', keyPath(tenantId), {});
    print(res, () => `key ${res.key.id} for tenant ${res.tenantId}\n` +
      (res.apiKey ? `api key (shown once, store it now): ${res.apiKey}` : 'the secret was shown by the first answer to this request and cannot be shown again'));
  });
keys
  .command('revoke <keyId>')
  .description('revoke a key at once (revoking a revoked key changes nothing)')
  .option('--tenant <id>', "operator: the key's tenant (a tenant key revokes its own tenant's)")
  .action(async (keyId: string, o: { tenant?: string }) => {
    const c = client();
    const { me, tenantId } = await keysTenant(c, o, 'revoke');
    const k = await c.request<KeyOut>('POST', keyPath(tenantId, `/${encodeURIComponent(keyId)}/revoke`), {});
    print(k, () => `${table(KEY_HEAD, [keyRow(k, null)])}` +
      (k.id === me.keyId ? '\nthis was the key in use: it no longer works; set NEOCLOUD_API_KEY to another key' : ''));
  });
keys
  .command('rotate-admin')
  .description('operator: a new admin key; the key used for the call is revoked at once')
  .action(async () => {
    const res = await client().request<RotatedAdminKey>('POST', '/v1/admin/keys/rotate', {});
    print(res, () => res.apiKey
      ? `new admin key ${res.key.id}; the key used for this call (${res.revokedKeyId}) is revoked.\n` +
        `api key (shown once, store it now): ${res.apiKey}\nexport NEOCLOUD_API_KEY=${res.apiKey}`
      : `admin key ${res.key.id} was created by an earlier answer to this request; its secret cannot be shown again`);
  });

type LeaseOut = LeaseView;
const leaseRow = (l: LeaseOut): (string | number)[] => [l.id, l.state, `${l.gpuCount} × ${l.gpuModel}`, l.class, l.placement, l.start, l.end, usd(l.totalMicros, l.currency)];
const LEASE_HEAD = ['id', 'state', 'gpus', 'class', 'placement', 'start', 'end', 'total'];

const leases = program.command('leases').description('GPU leases');
leases
  .command('create')
  .description('lease GPUs now or for a future window')
  .requiredOption('--gpu-model <model>', 'H100-SXM | H200 | B200 | GB200 | MI300X')
  .requiredOption('--count <n>', 'number of GPUs')
  .option('--region <region>', 'limit to a region')
  .option('--start <time>', 'RFC 3339 start (default now)')
  .option('--end <time>', 'RFC 3339 end')
  .option('--duration-hours <h>', 'length in hours (instead of --end)')
  .option('--placement <p>', 'same-nvlink | same-fabric | same-site | any', 'any')
  .option('--class <c>', 'reserved | on-demand | spot | internal (operator)', 'on-demand')
  .option('--tenant <id>', 'operator only: lease for this tenant')
  .option('--queue', 'if nothing fits now, wait for capacity (state queued) instead of failing')
  .option('--max-wait-hours <h>', 'with --queue: give up after this long (default 24)')
  .action(async (o: Record<string, string | boolean | undefined>) => {
    const body: Record<string, unknown> = {
      gpuModel: o['gpuModel'], gpuCount: Number(o['count']), placement: o['placement'], class: o['class'],
    };
    if (o['region']) body['region'] = o['region'];
    if (o['start']) body['start'] = o['start'];
    if (o['end']) body['end'] = o['end'];
    if (o['durationHours']) body['durationHours'] = Number(o['durationHours']);
    if (o['tenant']) body['tenantId'] = o['tenant'];
    if (o['queue']) body['queue'] = true;
    if (o['maxWaitHours']) body['maxWaitHours'] = Number(o['maxWaitHours']);
    const l = await client().request<LeaseOut>('POST', '/v1/leases', body);
    print(l, () => `${table(LEASE_HEAD, [leaseRow(l)])}\n` +
      (l.state === 'queued' ? `waiting for capacity until ${l.queuedUntil}` : `nodes: ${l.nodes.join(', ')}`));
  });
leases
  .command('list')
  .option('--limit <n>', 'at most this many', '100')
  .action(async (o: { limit: string }) => {
    const res = await client().request<{ leases: LeaseOut[] }>('GET', `/v1/leases?limit=${encodeURIComponent(o.limit)}`);
    print(res, () => table(LEASE_HEAD, res.leases.map(leaseRow)));
  });
leases
  .command('show <id>')
  .action(async (id: string) => {
    const l = await client().request<LeaseOut>('GET', `/v1/leases/${encodeURIComponent(id)}`);
    print(l, () => `${table(LEASE_HEAD, [leaseRow(l)])}\nprice: ${usd(l.priceMicrosPerGpuHour, l.currency)}/GPU-hour\n` +
      (l.gpus.length === 0
        ? (l.state === 'queued' ? `no GPUs yet: waiting for capacity until ${l.queuedUntil}` : 'no GPUs held')
        : `nodes: ${l.nodes.join(', ')}\n${table(['gpu', 'node'], l.gpus.map((g) => [g.uuid, g.nodeId]))}`));
  });
leases
  .command('release <id>')
  .action(async (id: string) => {
    const l = await client().request<LeaseOut>('POST', `/v1/leases/${encodeURIComponent(id)}/release`, {});
    print(l, () => table(LEASE_HEAD, [leaseRow(l)]));
  });

interface CapacityOut {
  start: string; end: string; installedGpus: number; freeGpus: number; availableGpus: number;
  sites: { siteId: string; region: string; installedGpus: number; freeGpus: number; availableGpus: number; fabrics: { fabricId: string; installedGpus: number; freeGpus: number; freeNodes: number }[] }[];
}
program
  .command('capacity')
  .description('free GPUs per site and fabric domain for a window')
  .option('--gpu-model <model>')
  .option('--region <region>')
  .option('--start <time>')
  .option('--end <time>')
  .action(async (o: Record<string, string | undefined>) => {
    const q = new URLSearchParams();
    for (const [k, v] of [['gpuModel', o['gpuModel']], ['region', o['region']], ['start', o['start']], ['end', o['end']]] as const) if (v) q.set(k, v);
    const c = await client().request<CapacityOut>('GET', `/v1/capacity?${q.toString()}`);
    print(c, () => {
      const rows = c.sites.flatMap((s) => [
        [s.siteId, '', s.installedGpus, s.freeGpus, s.availableGpus, ''],
        ...s.fabrics.map((f) => ['', f.fabricId, f.installedGpus, f.freeGpus, '', f.freeNodes]),
      ]);
      return `window ${c.start} – ${c.end}\n${table(['site', 'fabric', 'installed', 'free', 'power-available', 'free nodes'], rows)}\n` +
        `total: ${c.freeGpus} free of ${c.installedGpus}; ${c.availableGpus} runnable under power caps`;
    });
  });

type SchedStatusOut = SchedulerStatus;
const sched = program.command('sched').description('the scheduler');
sched
  .command('status')
  .description('utilization, fragmentation (largest gang per level) and the calendar ahead')
  .action(async () => {
    const st = await client().request<SchedStatusOut>('GET', '/v1/scheduler/status');
    print(st, () => {
      const pctS = (x: number): string => `${(x * 100).toFixed(1)}%`;
      return `as of ${st.asOf}: ${st.leasedGpus} of ${st.inServiceGpus} GPUs in service leased (${pctS(st.utilization)}); ` +
        `${st.installedGpus - st.inServiceGpus} out of service; fragmentation ${pctS(st.fragmentation)}\n` +
        `${table(['site', 'leased', 'in service', 'utilization', 'power used / cap'], st.sites.map((s) => [s.siteId, s.leasedGpus, s.inServiceGpus, pctS(s.utilization), `${mw(s.powerUsedW)} / ${mw(s.powerCapW)}`]))}\n\n` +
        `largest gang it can still take:\n${table(['model', 'free', 'nvlink', 'fabric', 'site', 'any'], st.largestGang.map((g) => [g.gpuModel, g.freeGpus, g.nvlink, g.fabric, g.site, g.any]))}\n\n` +
        `queue: ${st.queue.scheduledLeases} leases (${st.queue.scheduledGpus} GPUs) booked to start later, ${st.queue.startingWithin24h} within 24 h; ` +
        `${st.queue.queuedRequests} requests (${st.queue.queuedGpus} GPUs) waiting for capacity` +
        (st.queue.oldestQueuedSince ? `, the oldest since ${st.queue.oldestQueuedSince}` : '');
    });
  });

program
  .command('simulate')
  .description('replay a workload on a fleet with the scheduler (virtual clock), or compare placement policies with the ATC\'23 inflation protocol')
  .requiredOption('--fleet <fleet>', 'openb | openb:gpu | spot | demo | synthetic:GPUS | fleet.yaml | nodes.csv')
  .requiredOption('--workload <trace>', 'openb | openb:NAME (openb_pod_list_NAME.csv) | synthetic:JOBS[:SEED] | pods.csv | jobs.json')
  .option('--policy <name>', 'replay: revenue | revenue-fgd | internal-first | fifo', 'revenue')
  .option('--mode <mode>', 'replay (trace times) | fill (inflation protocol: random arrivals to --max-load, no departures)', 'replay')
  .option('--compare <policies>', 'fill mode with these placement policies side by side: bestfit,packing,fgd,neocloud')
  .option('--seeds <list>', 'fill mode: seeds of the random arrivals, comma-separated (means over seeds)', '1,2,3')
  .option('--max-load <x>', 'fill mode: highest arrival load, × GPU capacity', '1.3')
  .option('--html <file>', 'also write an HTML report with charts (fill mode: and an SVG next to it)')
  .option('--svg <file>', 'fill mode: write the allocation-vs-load chart as a standalone SVG')
  .option('--no-progress', 'no progress bar')
  .action(async (o: { fleet: string; workload: string; policy: string; mode: string; compare?: string; seeds: string; maxLoad: string; html?: string; svg?: string; progress: boolean }) => {
    const { runSimulateCommand } = await import('./simulate.js');
    await runSimulateCommand({ ...o, json: asJson() });
  });

registerBillingCommands(program, client, print);

// The node agent has its own small command line (src/agent/agent-main.ts): loaded alone, before
// commander, so its flags (--json, --once) are its own and nothing of the control plane loads.
const run: Promise<unknown> = process.argv[2] === 'agent'
  ? import('../agent/agent-main.js').then((m) => m.agentMain(process.argv.slice(3)))
  : program.parseAsync(process.argv);
run.catch((err: unknown) => {
  if (err instanceof ApiError) {
    process.stderr.write(`error ${err.status}: ${err.message}\n`);
    if (asJson()) process.stderr.write(`${JSON.stringify(err.problem)}\n`);
  } else {
    process.stderr.write(`error: ${(err as Error).message}\n`);
  }
  process.exitCode = 1;
});
