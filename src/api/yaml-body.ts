/**
 * YAML request bodies (fleet specs only), parsed off the event loop.
 *
 * YAML is far costlier to parse than JSON (a 15 MB body took 88 s and 2.9 GB on the main thread,
 * blocking every request, /healthz included) and has aliases, which expand exponentially
 * (`a: &a [*a, *a]` is even self-referential). So a YAML body is parsed in a short-lived worker
 * thread with a heap cap and a deadline, with aliases limited by the parser, and its result is
 * checked for depth and size (the cyclic value of a self-referencing alias fails the depth check)
 * before it is handed back. The main thread only waits.
 */
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import { DomainError } from '../shared/errors.js';
import { MAX_DEPTH, MAX_NODES } from './input-guard.js';

export interface YamlLimits {
  /** Alias references allowed in one document (the yaml library's `maxAliasCount`). */
  maxAliases: number;
  /** Wall-clock budget for the parse, milliseconds. */
  timeoutMs: number;
  /** Heap cap of the parsing worker, MiB. */
  maxHeapMb: number;
}

export const YAML_LIMITS: YamlLimits = { maxAliases: 100, timeoutMs: 10_000, maxHeapMb: 512 };

const YAML_MODULE = createRequire(import.meta.url).resolve('yaml');

// The worker runs as a CommonJS script (eval): it loads the same `yaml` package by absolute path.
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const YAML = require(workerData.yamlModule);
const { text, maxAliases, maxDepth, maxNodes } = workerData;
function check(root) {
  const stack = [[root, 0]];
  let nodes = 0;
  while (stack.length) {
    const [v, d] = stack.pop();
    if (++nodes > maxNodes) return 'has more than ' + maxNodes + ' values';
    if (v === null || typeof v !== 'object') continue;
    if (d >= maxDepth) return 'is nested more than ' + maxDepth + ' levels deep (or an alias refers to itself)';
    for (const k of Object.keys(v)) stack.push([v[k], d + 1]);
  }
  return null;
}
try {
  const value = YAML.parse(text, { maxAliasCount: maxAliases, uniqueKeys: true });
  const why = check(value);
  parentPort.postMessage(why ? { error: 'body: ' + why } : { value });
} catch (err) {
  parentPort.postMessage({ error: 'body: not valid YAML (' + String(err && err.message || err).split('\\n')[0] + ')' });
}
`;

/** Parses `text` as one YAML document within `limits`; a DomainError (400, field `body`) otherwise. */
export function parseYamlBounded(text: string, limits: YamlLimits = YAML_LIMITS): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: { text, yamlModule: YAML_MODULE, maxAliases: limits.maxAliases, maxDepth: MAX_DEPTH, maxNodes: MAX_NODES },
      resourceLimits: { maxOldGenerationSizeMb: limits.maxHeapMb, maxYoungGenerationSizeMb: 64, stackSizeMb: 4 },
    });
    let settled = false;
    const finish = (fn: () => void): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      void worker.terminate();
      fn();
    };
    const timer = setTimeout(() => finish(() =>
      reject(new DomainError('validation', `body: YAML took longer than ${limits.timeoutMs / 1000} s to parse; send JSON or a smaller spec`, { field: 'body' }))), limits.timeoutMs);
    worker.once('message', (m: { value?: unknown; error?: string }) => finish(() =>
      m.error !== undefined ? reject(new DomainError('validation', m.error, { field: 'body' })) : resolve(m.value)));
    worker.once('error', (err: Error & { code?: string }) => finish(() =>
      reject(new DomainError('validation', err.code === 'ERR_WORKER_OUT_OF_MEMORY'
        ? `body: YAML needs more than ${limits.maxHeapMb} MiB to parse; send JSON or a smaller spec`
        : `body: not valid YAML (${err.message.split('\n')[0]})`, { field: 'body' }))));
    worker.once('exit', () => finish(() => reject(new DomainError('validation', 'body: YAML could not be parsed', { field: 'body' }))));
  });
}
