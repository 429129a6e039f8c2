/**
 * Names the simulator accepts for fleets and workloads, resolved to a FleetLayout and JobSpec[].
 * Real traces are read from ../shared/traces at run time (never copied into the project).
 *
 * Fleets: `openb` (Alibaba 2023, 1,213 GPU nodes), `spot` (Alibaba 2026, 4,278 nodes), `demo`
 * (examples/demo-fleet.yaml), `synthetic:GPUS`, or a path: a neocloud fleet spec (.yaml/.json) or an
 * openb-format node list (.csv).
 * Workloads: `openb` / `openb:NAME` (the pod list `openb_pod_list_NAME.csv`, e.g. gpuspec33,
 * multigpu20), `synthetic:JOBS[:SEED]`, or a path: an openb-format pod list (.csv) or a JSON array
 * of JobSpec.
 *
 * The inflation protocol (fill mode, --compare) reads nodes with CPU and memory and every task,
 * CPU-only ones included: `resolveShareNodes` (`openb`: the 1,523-node list with its CPU-only
 * nodes, as the paper's cluster; `openb:gpu`: the 1,213 GPU nodes; `spot`; or a node-list .csv of
 * either family) and `resolveShareTasks` (`openb`, `openb:NAME`, or a pod-list .csv).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import YAML from 'yaml';
import { expandFleetSpec, FleetSpecSchema, type FleetSpec } from '../fleet/index.js';
import { DomainError } from '../shared/errors.js';
import { validateOrThrow } from '../shared/validation.js';
import { layoutFromFleet, syntheticFleetLayout } from './fleet-layout.js';
import type { FleetLayout, JobSpec, ShareNode, ShareTask } from './scheduler-types.js';
import { importOpenbNodes, importOpenbPods, importOpenbTasks, importShareNodes, readSpotNodesFile, tracesDir, TRACE_FILES } from './traces.js';
import { syntheticWorkload } from './workload.js';

const DEMO_FLEET = new URL('../../examples/demo-fleet.yaml', import.meta.url);

function traceFile(rel: string): string {
  const path = join(tracesDir(), rel);
  if (!existsSync(path)) {
    throw new DomainError('validation', `trace ${rel} not found under ${tracesDir()}; use a synthetic:… input instead`, { field: 'trace' });
  }
  return path;
}

function specLayout(text: string, json: boolean): FleetLayout {
  const spec = validateOrThrow<FleetSpec>(FleetSpecSchema, json ? JSON.parse(text) : YAML.parse(text));
  return layoutFromFleet(expandFleetSpec(spec));
}

export function resolveFleet(name: string): FleetLayout {
  if (name === 'openb') return importOpenbNodes(readFileSync(traceFile(TRACE_FILES.openbGpuNodes), 'utf8'));
  if (name === 'spot') return readSpotNodesFile(traceFile(TRACE_FILES.spotNodes));
  if (name === 'demo') return specLayout(readFileSync(DEMO_FLEET, 'utf8'), false);
  const syn = /^synthetic:(\d+)$/.exec(name);
  if (syn) return syntheticFleetLayout({ gpus: Number(syn[1]) });
  if (!existsSync(name)) throw new DomainError('validation', `fleet: "${name}" is not openb, spot, demo, synthetic:GPUS or a file`, { field: 'fleet' });
  const text = readFileSync(name, 'utf8');
  if (name.endsWith('.csv')) return importOpenbNodes(text);
  return specLayout(text, name.endsWith('.json'));
}

/** `openb` → the default pod list; `openb:NAME` → `openb_pod_list_NAME.csv`; else null. */
function openbPodList(name: string): string | null {
  if (name === 'openb') return traceFile(TRACE_FILES.openbPodsDefault);
  const m = /^openb:([A-Za-z0-9_-]+)$/.exec(name);
  return m ? traceFile(`alibaba-gpu-v2023/openb_pod_list_${m[1]}.csv`) : null;
}

export function resolveWorkload(name: string, fleetGpus: number): JobSpec[] {
  const pods = openbPodList(name);
  if (pods) return importOpenbPods(readFileSync(pods, 'utf8')).jobs;
  const syn = /^synthetic:(\d+)(?::(\d+))?$/.exec(name);
  if (syn) return syntheticWorkload({ seed: Number(syn[2] ?? 1), jobs: Number(syn[1]), fleetGpus });
  if (!existsSync(name)) throw new DomainError('validation', `workload: "${name}" is not openb, openb:NAME, synthetic:JOBS[:SEED] or a file`, { field: 'workload' });
  const text = readFileSync(name, 'utf8');
  if (name.endsWith('.csv')) return importOpenbPods(text).jobs;
  return JSON.parse(text) as JobSpec[];
}

export function resolveShareNodes(name: string): ShareNode[] {
  if (name === 'openb') return importShareNodes(readFileSync(traceFile(TRACE_FILES.openbAllNodes), 'utf8'));
  if (name === 'openb:gpu') return importShareNodes(readFileSync(traceFile(TRACE_FILES.openbGpuNodes), 'utf8'));
  if (name === 'spot') return importShareNodes(readFileSync(traceFile(TRACE_FILES.spotNodes), 'utf8'));
  if (!name.endsWith('.csv') || !existsSync(name)) {
    throw new DomainError('validation', `fleet: "${name}" is not openb, openb:gpu, spot or a node-list .csv (the inflation protocol needs CPU and memory per node)`, { field: 'fleet' });
  }
  return importShareNodes(readFileSync(name, 'utf8'));
}

export function resolveShareTasks(name: string): ShareTask[] {
  const pods = openbPodList(name);
  if (pods) return importOpenbTasks(readFileSync(pods, 'utf8'));
  if (!name.endsWith('.csv') || !existsSync(name)) {
    throw new DomainError('validation', `workload: "${name}" is not openb, openb:NAME or a pod-list .csv (the inflation protocol reads openb-format tasks)`, { field: 'workload' });
  }
  return importOpenbTasks(readFileSync(name, 'utf8'));
}
