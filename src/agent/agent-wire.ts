/**
 * What an agent and the control plane say to each other, over HTTP or NATS: enrolment,
 * heartbeats (with one telemetry sample per GPU) and the node's operator state coming back.
 * Shared by both sides; the control plane validates every heartbeat with validateHeartbeat
 * (one rule for both transports), which names the bad field.
 *
 * Units: watts, MiB, percent, °C, epoch milliseconds.
 */

/** The operator's say on a node, as the agent hears it: none, drain (no new leases), cordon (out of service now). */
export type AdminState = 'none' | 'drain' | 'cordon';
export const ADMIN_STATES: readonly AdminState[] = ['none', 'drain', 'cordon'];

export interface GpuSample {
  uuid: string;
  index: number;
  powerW: number | null;
  powerLimitW: number | null;
  utilizationPct: number | null;
  memoryUsedMiB: number | null;
  memoryTotalMiB: number | null;
  temperatureC: number | null;
  /** Uncorrectable ECC errors since the driver loaded; any > 0 takes the node down. */
  eccUncorrected: number | null;
  /** XID codes seen since the previous heartbeat. */
  xids: number[];
  /** The driver's recommended recovery action (`None` when healthy), or null when not reported. */
  recoveryAction: string | null;
}

export interface Heartbeat {
  v: 1;
  nodeId: string;
  agentId: string;
  /** Increases by one per heartbeat of this agent; a lower or equal one is a duplicate. */
  seq: number;
  sentAtMs: number;
  /** The agent's interval, for the missed-heartbeat rule. */
  intervalMs: number;
  /** The operator state the agent has applied (its acknowledgement of drain/cordon). */
  adminState: AdminState;
  /** Why discovery failed (nvidia-smi missing, timed out, exited non-zero), or null. */
  discoveryError: string | null;
  gpus: GpuSample[];
}

/** The control plane's answer to a heartbeat (HTTP) or a command (NATS `…cmd.<site>.<node>`). */
export interface NodeCommand {
  nodeId: string;
  adminState: AdminState;
  /** The node's state in the fleet: ready, draining or down. */
  nodeState: string;
  reason: string | null;
}

export interface DiscoveredGpu {
  index: number;
  uuid: string;
  name: string;
  model: string | null;
  serial: string | null;
  pciBusId: string | null;
}

export interface EnrolRequest {
  nodeId: string;
  token: string;
  gpus: DiscoveredGpu[];
  driverVersion: string | null;
}

export interface EnrolResponse {
  agentId: string;
  /** The agent's own credential (bearer over HTTP; its SHA-256 with the `nats:` prefix signs NATS messages). Shown once. */
  credential: string;
  nodeId: string;
  siteId: string;
  intervalMs: number;
  /** Where to publish heartbeats over NATS, or null when the control plane takes them over HTTP only. */
  nats: NatsEnrolment | null;
  command: NodeCommand;
}

/** NATS headers of a heartbeat: who sent it and its MAC. */
export const HDR_AGENT = 'Nc-Agent';
export const HDR_SIG = 'Nc-Sig';
/** NATS header of a command: the control plane's Ed25519 signature of the message's bytes, base64. */
export const HDR_CMD_SIG = 'Nc-Cmd-Sig';
/**
 * NATS header of a receipt on the command subject (empty body): the control plane took this
 * node's heartbeats. Not signed (a signature per receipt cost the consumer ~a third of its
 * headroom in the benchmark): only the control plane's NATS user may publish on command subjects,
 * and a receipt changes nothing on the node, it only keeps the agent on NATS.
 */
export const HDR_RECEIPT = 'Nc-Receipt';

/**
 * What an agent is told at enrolment about NATS: its subjects, its own NATS user (a JWT the
 * control plane's account signed, allowed to publish `subject` and subscribe `commandSubject`
 * only, and its nkey seed; shown once, like the credential) and the public key that signs its
 * commands. `credentials` and `commandKey` are null only when the control plane runs NATS without
 * an authority (an open server: tests and benchmarks of the old layout).
 */
export interface NatsEnrolment {
  subject: string;
  commandSubject: string;
  credentials: { jwt: string; seed: string; inboxPrefix: string } | null;
  /** Ed25519 public key (32 bytes, base64) that signs every command on `commandSubject`. */
  commandKey: string | null;
}

/**
 * A command as sent over NATS: the node's command and when the control plane issued it (its
 * clock, epoch ms). The agent applies only a correctly signed command for its own node issued
 * after the last one it took (a replayed or reordered one is refused), so the bytes, not a parse
 * of them, are what is signed and verified.
 */
export interface SignedCommand extends NodeCommand {
  issuedAtMs: number;
}

/** Parses a command message's bytes; throws naming the field. */
export function parseSignedCommand(data: Uint8Array): SignedCommand {
  const v: unknown = JSON.parse(new TextDecoder().decode(data));
  if (!isObj(v)) throw new WireError('command', 'must be a JSON object');
  if (typeof v['nodeId'] !== 'string') throw new WireError('nodeId', 'must be a string');
  if (!ADMIN_STATES.includes(v['adminState'] as AdminState)) throw new WireError('adminState', `must be one of ${ADMIN_STATES.join(', ')}`);
  if (typeof v['nodeState'] !== 'string') throw new WireError('nodeState', 'must be a string');
  if (v['reason'] !== null && typeof v['reason'] !== 'string') throw new WireError('reason', 'must be null or a string');
  if (!Number.isInteger(v['issuedAtMs']) || (v['issuedAtMs'] as number) < 0) throw new WireError('issuedAtMs', 'must be a non-negative integer (epoch ms)');
  return v as unknown as SignedCommand;
}

/** Subject tokens: NATS subjects split on `.`, and `*`/`>` are wildcards. Fleet ids are `[a-z0-9-]`. */
export const telemetrySubject = (prefix: string, siteId: string, nodeId: string): string => `${prefix}.${siteId}.${nodeId}`;

const MAX_GPUS = 16;
const MAX_XIDS = 64;
const ID = /^[A-Za-z0-9_-]{1,64}$/;
const UUID = /^GPU-[0-9a-fA-F-]{8,60}$/;

export class WireError extends Error {
  constructor(readonly field: string, message: string, readonly reason: string = 'malformed') {
    super(`${field}: ${message}`);
  }
}

const HEARTBEAT_KEYS: ReadonlySet<string> = new Set(['v', 'nodeId', 'agentId', 'seq', 'sentAtMs', 'intervalMs', 'adminState', 'discoveryError', 'gpus']);
const SAMPLE_KEYS: ReadonlySet<string> = new Set(['uuid', 'index', 'powerW', 'powerLimitW', 'utilizationPct', 'memoryUsedMiB', 'memoryTotalMiB', 'temperatureC', 'eccUncorrected', 'xids', 'recoveryAction']);

/** The numeric readings of a sample (type-checked here, range-checked by the health rule). */
const READING_KEYS = ['powerW', 'powerLimitW', 'utilizationPct', 'memoryUsedMiB', 'memoryTotalMiB', 'temperatureC', 'eccUncorrected'] as const;

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * A reading's type: a finite number or null. Its range is not checked here: an impossible value
 * (power −1 W, memory.used 4294967295 MiB) is the GPU's fault, judged per field by the health rule
 * (src/telemetry/node-health.ts readingFaults), not a malformed message.
 */
function numOrNull(o: Record<string, unknown>, k: string, field: string): void {
  const v = o[k];
  if (v !== null && (typeof v !== 'number' || !Number.isFinite(v))) throw new WireError(`${field}.${k}`, 'must be a number or null');
}

/** C0 controls but tab, line feed and carriage return, and DEL: PostgreSQL text cannot hold NUL, and none belongs in a reason shown to a person. */
const CONTROL = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/;

function int(o: Record<string, unknown>, k: string, field: string, min: number, max: number): number {
  const v = o[k];
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) throw new WireError(`${field}${k}`, `must be an integer from ${min} to ${max}`);
  return v;
}

/**
 * Checks an untrusted heartbeat's structure (parsed JSON) field by field; returns it typed or
 * throws a WireError naming the field (counted as `malformed`). Unknown fields, wrong types,
 * control characters in strings are refused; readings are only type-checked: whether a number
 * is possible for a GPU is the health rule's call, per field (readingFaults), so one impossible
 * value costs that field, never the heartbeat.
 */
export function validateHeartbeat(v: unknown): Heartbeat {
  // Checked in place and returned as is (no copy): this runs for every heartbeat of the fleet.
  if (!isObj(v)) throw new WireError('heartbeat', 'must be a JSON object');
  let keys = 0;
  for (const k in v) {
    if (!HEARTBEAT_KEYS.has(k)) throw new WireError(k === '' ? '(empty field name)' : k.slice(0, 64), 'unknown field');
    keys++;
  }
  if (v['v'] !== 1) throw new WireError('v', 'must be 1');
  for (const k of ['nodeId', 'agentId'] as const) {
    if (typeof v[k] !== 'string' || !ID.test(v[k] as string)) throw new WireError(k, 'must be an id ([A-Za-z0-9_-], 1 to 64 characters)');
  }
  int(v, 'seq', '', 0, Number.MAX_SAFE_INTEGER);
  int(v, 'sentAtMs', '', 0, 8_640_000_000_000_000);
  int(v, 'intervalMs', '', 100, 3_600_000);
  if (!ADMIN_STATES.includes(v['adminState'] as AdminState)) throw new WireError('adminState', `must be one of ${ADMIN_STATES.join(', ')}`);
  const de = v['discoveryError'];
  if (de !== null && (typeof de !== 'string' || de.length > 1000 || CONTROL.test(de))) throw new WireError('discoveryError', 'must be null or a string of at most 1000 characters without control characters');
  const gpus = v['gpus'];
  if (!Array.isArray(gpus) || gpus.length > MAX_GPUS) throw new WireError('gpus', `must be an array of at most ${MAX_GPUS} samples`);
  if (keys !== HEARTBEAT_KEYS.size) throw new WireError('heartbeat', `must have exactly the fields ${[...HEARTBEAT_KEYS].join(', ')}`);
  for (let i = 0; i < gpus.length; i++) {
    const g: unknown = gpus[i];
    const f = `gpus[${i}]`;
    if (!isObj(g)) throw new WireError(f, 'must be an object');
    let n = 0;
    for (const k in g) {
      if (!SAMPLE_KEYS.has(k)) throw new WireError(`${f}.${k.slice(0, 64) || '(empty field name)'}`, 'unknown field');
      n++;
    }
    if (n !== SAMPLE_KEYS.size) throw new WireError(f, `must have exactly the fields ${[...SAMPLE_KEYS].join(', ')}`);
    if (typeof g['uuid'] !== 'string' || !UUID.test(g['uuid'])) throw new WireError(`${f}.uuid`, 'must be a GPU UUID (GPU-…)');
    const xids = g['xids'];
    if (!Array.isArray(xids) || xids.length > MAX_XIDS) throw new WireError(`${f}.xids`, `must be an array of at most ${MAX_XIDS} XID codes`);
    // Integers; a code that is no XID (negative, huge) is the GPU's fault (readingFaults), not the message's.
    for (const x of xids) if (!Number.isInteger(x)) throw new WireError(`${f}.xids`, `must be an array of at most ${MAX_XIDS} XID codes (integers)`);
    const ra = g['recoveryAction'];
    if (ra !== null && (typeof ra !== 'string' || ra.length > 100 || CONTROL.test(ra))) throw new WireError(`${f}.recoveryAction`, 'must be null or a short string without control characters');
    int(g, 'index', `${f}.`, 0, 63);
    for (const k of READING_KEYS) numOrNull(g, k, f);
  }
  return v as unknown as Heartbeat;
}
