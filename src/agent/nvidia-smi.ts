/**
 * GPU discovery from `nvidia-smi` (pure parsers; the process is run by gpu-discovery.ts).
 *
 * Two sources, as NVIDIA documents them (`nvidia-smi --help-query-gpu`, the nvsmi_device DTD):
 * - `nvidia-smi --query-gpu=<QUERY_FIELDS> --format=csv,noheader,nounits`: one line per GPU, the
 *   fields in the order asked, `, `-separated; a value the GPU cannot give is `[N/A]`,
 *   `[Not Supported]`, `N/A` or `[Unknown Error]` (read as null, never 0).
 * - `nvidia-smi -q -x`: XML per GPU (`<gpu id="PCI bus id">`) for what the query interface lacks:
 *   the driver's recommended recovery action after a fatal error (`gpu_recovery_action`: None,
 *   GPU Reset, Node Reboot, Drain P2P, Drain and Reset; driver ≥ 550) and the row remapper's
 *   failure/pending flags.
 *
 * A GPU that fell off the bus is missing from the rows, and nvidia-smi prints a line such as
 * `Unable to determine the device handle for GPU0000:1B:00.0: Unknown Error` instead: such lines
 * are kept as `problems`, never a parse failure. XID errors are not in nvidia-smi's output (they
 * are kernel log lines, `NVRM: Xid (PCI:0000:1b:00): 79, …`): parseXidLog reads those.
 */
import { GPU_MODEL_IDS, type GpuModelId } from '../fleet/gpu-catalog.js';

/** The fields asked of `--query-gpu`, in order (the same list as the H200 fixture's README). */
export const QUERY_FIELDS = [
  'index', 'uuid', 'name', 'serial', 'pci.bus_id', 'memory.total', 'memory.used', 'utilization.gpu', 'utilization.memory',
  'power.draw', 'power.limit', 'enforced.power.limit', 'temperature.gpu', 'clocks.sm', 'clocks.max.sm',
  'ecc.errors.uncorrected.volatile.total', 'driver_version', 'vbios_version', 'persistence_mode', 'compute_mode', 'mig.mode.current',
] as const;

/** One GPU as discovered. Units in the names; null: the GPU did not report it (`[N/A]`, `[Not Supported]`). */
export interface GpuReading {
  index: number;
  uuid: string;
  /** The name nvidia-smi reports (`NVIDIA H200`). */
  name: string;
  /** The catalog model the name maps to, or null when neocloud does not know it. */
  model: GpuModelId | null;
  serial: string | null;
  pciBusId: string | null;
  memoryTotalMiB: number | null;
  memoryUsedMiB: number | null;
  utilizationGpuPct: number | null;
  utilizationMemoryPct: number | null;
  powerDrawW: number | null;
  powerLimitW: number | null;
  enforcedPowerLimitW: number | null;
  temperatureC: number | null;
  smClockMHz: number | null;
  maxSmClockMHz: number | null;
  /** Uncorrectable ECC errors since the driver loaded (volatile total). */
  eccUncorrectedVolatile: number | null;
  driverVersion: string | null;
  vbiosVersion: string | null;
  persistenceMode: string | null;
  computeMode: string | null;
  migMode: string | null;
  /** From `-q -x`: the driver's recommended recovery action (`None` when healthy), or null when not reported. */
  recoveryAction: string | null;
  /** From `-q -x`: the row remapper failed (the GPU needs service). */
  remappedRowFailure: boolean | null;
  /** Fatal XID codes seen for this GPU since the last sample (kernel log; empty when not read). */
  xids: number[];
}

export interface QueryParse {
  gpus: GpuReading[];
  /** Lines that were not a GPU row (a lost GPU's error line, a row with the wrong field count). */
  problems: string[];
}

const UNAVAILABLE = /^\[?(N\/A|Not Supported|Unknown Error|GPU requires reset|Insufficient Permissions|GPU is lost)\]?$/i;

const text = (v: string | undefined): string | null => (v === undefined || v === '' || UNAVAILABLE.test(v) ? null : v);
const num = (v: string | undefined): number | null => {
  const t = text(v);
  if (t === null) return null;
  const n = Number(t);
  return Number.isFinite(n) ? n : null;
};

/**
 * The catalog model of a reported name. Names as nvidia-smi prints them: `NVIDIA H200`,
 * `NVIDIA H100 80GB HBM3` (SXM5), `NVIDIA B200`, `NVIDIA GB200`; `AMD Instinct MI300X` (amd-smi).
 * PCIe and NVL variants (`NVIDIA H100 PCIe`, `NVIDIA H100 NVL`) are other products: null.
 */
export function modelOfName(name: string): GpuModelId | null {
  const n = name.trim().toUpperCase().replace(/\s+/g, ' ');
  if (/\bGB200\b/.test(n)) return 'GB200';
  if (/\bB200\b/.test(n)) return 'B200';
  if (/\bH200\b/.test(n) && !/\bNVL\b/.test(n)) return 'H200';
  if (/\bH100\b/.test(n) && !/\b(PCIE|NVL)\b/.test(n)) return 'H100-SXM';
  if (/\bMI300X\b/.test(n)) return 'MI300X';
  return null;
}

export const isKnownModel = (m: string): m is GpuModelId => (GPU_MODEL_IDS as readonly string[]).includes(m);

/** Parses `--query-gpu=QUERY_FIELDS --format=csv,noheader,nounits` output. Never throws. */
export function parseQueryCsv(output: string): QueryParse {
  const gpus: GpuReading[] = [];
  const problems: string[] = [];
  for (const raw of output.split(/\r?\n/)) {
    const line = raw.trim();
    if (line === '') continue;
    const f = line.split(',').map((s) => s.trim());
    const index = Number(f[0]);
    if (f.length !== QUERY_FIELDS.length || !/^\d+$/.test(f[0] ?? '') || !/^GPU-[0-9a-fA-F-]{8,}$/.test(f[1] ?? '')) {
      problems.push(line.slice(0, 300));
      continue;
    }
    const name = f[2] ?? '';
    gpus.push({
      index, uuid: f[1]!, name, model: modelOfName(name),
      serial: text(f[3]), pciBusId: text(f[4]),
      memoryTotalMiB: num(f[5]), memoryUsedMiB: num(f[6]), utilizationGpuPct: num(f[7]), utilizationMemoryPct: num(f[8]),
      powerDrawW: num(f[9]), powerLimitW: num(f[10]), enforcedPowerLimitW: num(f[11]), temperatureC: num(f[12]),
      smClockMHz: num(f[13]), maxSmClockMHz: num(f[14]), eccUncorrectedVolatile: num(f[15]),
      driverVersion: text(f[16]), vbiosVersion: text(f[17]), persistenceMode: text(f[18]), computeMode: text(f[19]), migMode: text(f[20]),
      recoveryAction: null, remappedRowFailure: null, xids: [],
    });
  }
  gpus.sort((a, b) => a.index - b.index);
  return { gpus, problems };
}

/** What `-q -x` adds per GPU, by UUID. */
export interface XmlExtras {
  uuid: string;
  pciBusId: string | null;
  recoveryAction: string | null;
  remappedRowFailure: boolean | null;
  driverVersion: string | null;
}

const tag = (block: string, name: string): string | null => {
  const m = new RegExp(`<${name}>([^<]*)</${name}>`).exec(block);
  return m ? text(m[1]!.trim()) : null;
};

/**
 * Reads the per-GPU blocks of `nvidia-smi -q -x`. A flat scan for the few leaf tags needed (the
 * format is machine-written, one tag per line), so the agent needs no XML library. Never throws.
 */
export function parseSmiXml(xml: string): XmlExtras[] {
  const driverVersion = tag(xml.split('<gpu ')[0] ?? '', 'driver_version');
  const out: XmlExtras[] = [];
  const re = /<gpu id="([^"]*)">([\s\S]*?)<\/gpu>/g;
  for (let m = re.exec(xml); m; m = re.exec(xml)) {
    const block = m[2]!;
    const uuid = tag(block, 'uuid');
    if (!uuid) continue;
    const failure = tag(block, 'remapped_row_failure');
    out.push({
      uuid, pciBusId: m[1] || null, recoveryAction: tag(block, 'gpu_recovery_action'),
      remappedRowFailure: failure === null ? null : /^yes$/i.test(failure), driverVersion,
    });
  }
  return out;
}

/** Adds the `-q -x` extras to the query rows, matched by UUID. */
export function mergeXml(gpus: GpuReading[], extras: XmlExtras[]): GpuReading[] {
  const by = new Map(extras.map((e) => [e.uuid, e]));
  return gpus.map((g) => {
    const e = by.get(g.uuid);
    return e ? { ...g, recoveryAction: e.recoveryAction, remappedRowFailure: e.remappedRowFailure } : g;
  });
}

/**
 * XID codes per PCI bus id from kernel log lines (`dmesg`, `journalctl -k`):
 * `NVRM: Xid (PCI:0000:1b:00): 79, pid=…, GPU has fallen off the bus.` Bus ids are normalised to
 * nvidia-smi's form (`00000000:1B:00.0`).
 */
export function parseXidLog(log: string): Map<string, number[]> {
  const out = new Map<string, number[]>();
  const re = /NVRM: Xid \(PCI:([0-9a-fA-F]{4,8}):([0-9a-fA-F]{2}):([0-9a-fA-F]{2})(?:\.(\d))?\): (\d+)/g;
  for (let m = re.exec(log); m; m = re.exec(log)) {
    const bus = `${m[1]!.padStart(8, '0')}:${m[2]}:${m[3]}.${m[4] ?? '0'}`.toUpperCase();
    const list = out.get(bus) ?? [];
    list.push(Number(m[5]));
    out.set(bus, list);
  }
  return out;
}
