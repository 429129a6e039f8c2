/**
 * Where the agent's GPUs come from: the real `nvidia-smi` (two calls: the CSV query and `-q -x`),
 * or generated GPUs (`--fake-gpus N --model M`) for machines without any. Either way the result
 * is a Discovery: the GPUs seen, or why discovery failed — a failed nvidia-smi is a reading
 * (the node is unhealthy), never a crash of the agent.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { GPU_CATALOG, type GpuModelId } from '../fleet/gpu-catalog.js';
import { QUERY_FIELDS, mergeXml, parseQueryCsv, parseSmiXml, type GpuReading } from './nvidia-smi.js';

export interface Discovery {
  /** When it was read, epoch ms. */
  atMs: number;
  gpus: GpuReading[];
  /** Lines nvidia-smi printed that were not GPU rows (a lost GPU's error). */
  problems: string[];
  /** Why discovery failed as a whole (nvidia-smi missing, timed out, exited non-zero), or null. */
  error: string | null;
  driverVersion: string | null;
}

export type Discover = () => Promise<Discovery>;

/** nvidia-smi answers in well under a second; a hung driver must not hang the agent. */
const SMI_TIMEOUT_MS = 15_000;

function run(bin: string, args: string[]): Promise<{ ok: true; stdout: string } | { ok: false; error: string; stdout: string }> {
  return new Promise((resolve) => {
    execFile(bin, args, { timeout: SMI_TIMEOUT_MS, maxBuffer: 16 * 1024 * 1024, encoding: 'utf8' }, (err, stdout, stderr) => {
      if (!err) return resolve({ ok: true, stdout });
      const e = err as NodeJS.ErrnoException & { killed?: boolean; code?: string | number };
      const why = e.code === 'ENOENT' ? `${bin} not found`
        : e.killed ? `${bin} timed out after ${SMI_TIMEOUT_MS} ms`
          : `${bin} exited with code ${String(e.code)}: ${(stderr || stdout).trim().split('\n')[0]?.slice(0, 300) ?? ''}`;
      resolve({ ok: false, error: why, stdout: stdout ?? '' });
    });
  });
}

/** Discovery through the real nvidia-smi (`bin`: its path, default from PATH). */
export function nvidiaSmiDiscovery(bin = 'nvidia-smi', now: () => number = Date.now): Discover {
  return async () => {
    const atMs = now();
    const q = await run(bin, [`--query-gpu=${QUERY_FIELDS.join(',')}`, '--format=csv,noheader,nounits']);
    const parsed = parseQueryCsv(q.stdout);
    // Exit code 0 with some GPUs missing is possible; a non-zero exit with rows too (one GPU lost).
    if (!q.ok && parsed.gpus.length === 0) return { atMs, gpus: [], problems: parsed.problems, error: q.error, driverVersion: null };
    const x = await run(bin, ['-q', '-x']);
    const extras = parseSmiXml(x.stdout);
    const gpus = mergeXml(parsed.gpus, extras);
    return {
      atMs, gpus, problems: q.ok ? parsed.problems : [...parsed.problems, q.error], error: null,
      driverVersion: gpus[0]?.driverVersion ?? extras[0]?.driverVersion ?? null,
    };
  };
}

/** How a fake GPU misbehaves (tests and demos): fall off the bus, count ECC errors, raise an XID. */
export interface FakeFaults {
  missing?: number[];
  ecc?: number[];
  xid?: { index: number; code: number }[];
}

/** A deterministic nvidia-smi style UUID for fake GPU `index` of `nodeId`. */
export function fakeGpuUuid(nodeId: string, index: number): string {
  const h = createHash('sha256').update(`fake:${nodeId}:${index}`).digest('hex');
  return `GPU-${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

/**
 * `count` generated GPUs of `model` (`--fake-gpus N --model M`): stable UUIDs per node id, a power
 * draw that wanders between 40 % and 90 % of TDP, and the faults asked for (mutable, so a test
 * can make a GPU fall off the bus while the agent runs).
 */
export function fakeDiscovery(nodeId: string, count: number, model: GpuModelId, faults: FakeFaults = {}, now: () => number = Date.now): Discover {
  const spec = GPU_CATALOG[model];
  let tick = 0;
  return async () => {
    tick++;
    const gpus: GpuReading[] = [];
    for (let i = 0; i < count; i++) {
      if (faults.missing?.includes(i)) continue;
      const load = 0.4 + 0.5 * ((Math.sin(tick / 3 + i) + 1) / 2);
      gpus.push({
        index: i, uuid: fakeGpuUuid(nodeId, i), name: spec.name, model, serial: `FAKE${i}`, pciBusId: `00000000:${(0x10 + i).toString(16).toUpperCase()}:00.0`,
        memoryTotalMiB: spec.memoryGb * 1024, memoryUsedMiB: Math.round(spec.memoryGb * 1024 * load), utilizationGpuPct: Math.round(load * 100),
        utilizationMemoryPct: Math.round(load * 60), powerDrawW: Math.round(spec.tdpW * load * 100) / 100, powerLimitW: spec.tdpW, enforcedPowerLimitW: spec.tdpW,
        temperatureC: Math.round(35 + 40 * load), smClockMHz: 1980, maxSmClockMHz: 1980,
        eccUncorrectedVolatile: faults.ecc?.includes(i) ? 1 : 0, driverVersion: 'fake', vbiosVersion: 'fake',
        persistenceMode: 'Enabled', computeMode: 'Default', migMode: 'Disabled', recoveryAction: 'None', remappedRowFailure: false,
        xids: (faults.xid ?? []).filter((x) => x.index === i).map((x) => x.code),
      });
    }
    return { atMs: now(), gpus, problems: [], error: null, driverVersion: 'fake' };
  };
}
