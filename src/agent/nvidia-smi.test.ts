/**
 * The nvidia-smi parsers on the real H200 output (test/fixtures/nvidia-smi/h200, captured on a
 * real server) and on variations made from it: 8 GPUs, a GPU missing, `[N/A]` and
 * `[Not Supported]` fields, a failed nvidia-smi (a fake binary that exits non-zero).
 */
import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { nvidiaSmiDiscovery } from './gpu-discovery.js';
import { QUERY_FIELDS, mergeXml, modelOfName, parseQueryCsv, parseSmiXml, parseXidLog } from './nvidia-smi.js';

const FIX = fileURLToPath(new URL('../../test/fixtures/nvidia-smi/h200/', import.meta.url));
const queryCsv = readFileSync(join(FIX, 'query.csv'), 'utf8');
const smiXml = readFileSync(join(FIX, 'smi-q.xml'), 'utf8');
const REAL_UUID = 'GPU-2277f1a9-ccd0-b028-6038-58717607f17f';

/** The real row with index, UUID, bus id and serial changed: GPU `i` of an 8-GPU HGX board. */
function rowFor(i: number): string {
  const f = queryCsv.trim().split(', ');
  f[0] = String(i);
  f[1] = `GPU-2277f1a9-ccd0-b028-6038-5871760700${String(i).padStart(2, '0')}`;
  f[3] = `16540241994${String(40 + i)}`;
  f[4] = `00000000:${(0x18 + i * 0x10).toString(16).toUpperCase()}:00.0`;
  return f.join(', ');
}

describe('nvidia-smi --query-gpu (real H200 output)', () => {
  it('asks for the fields the fixture was captured with', () => {
    const readme = readFileSync(join(FIX, 'README.md'), 'utf8');
    expect(readme).toContain(`--query-gpu=${QUERY_FIELDS.join(',')} --format=csv,noheader,nounits`);
  });

  it('reads every field of the real row', () => {
    const { gpus, problems } = parseQueryCsv(queryCsv);
    expect(problems).toEqual([]);
    expect(gpus).toHaveLength(1);
    expect(gpus[0]).toMatchObject({
      index: 0, uuid: REAL_UUID, name: 'NVIDIA H200', model: 'H200', serial: '1654024199446', pciBusId: '00000000:00:06.0',
      memoryTotalMiB: 143771, memoryUsedMiB: 0, utilizationGpuPct: 0, utilizationMemoryPct: 0, powerDrawW: 124.9, powerLimitW: 700,
      enforcedPowerLimitW: 700, temperatureC: 36, smClockMHz: 1980, maxSmClockMHz: 1980, eccUncorrectedVolatile: 0,
      driverVersion: '580.159.04', vbiosVersion: '96.00.A5.00.1A', persistenceMode: 'Enabled', computeMode: 'Default', migMode: 'Disabled',
    });
  });

  it('reads 8 GPUs, in index order whatever order they come in', () => {
    const lines = [3, 0, 7, 1, 2, 6, 5, 4].map(rowFor).join('\n');
    const { gpus, problems } = parseQueryCsv(`${lines}\n`);
    expect(problems).toEqual([]);
    expect(gpus.map((g) => g.index)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(new Set(gpus.map((g) => g.uuid)).size).toBe(8);
    expect(gpus.every((g) => g.model === 'H200' && g.powerDrawW === 124.9)).toBe(true);
  });

  it('a GPU missing: its error line is a problem, the other seven are read', () => {
    const lines = [0, 1, 2, 4, 5, 6, 7].map(rowFor);
    lines.splice(3, 0, 'Unable to determine the device handle for GPU0000:48:00.0: Unknown Error');
    const { gpus, problems } = parseQueryCsv(lines.join('\n'));
    expect(gpus.map((g) => g.index)).toEqual([0, 1, 2, 4, 5, 6, 7]);
    expect(problems).toEqual(['Unable to determine the device handle for GPU0000:48:00.0: Unknown Error']);
  });

  it('[N/A] and [Not Supported] are null, never 0', () => {
    const f = queryCsv.trim().split(', ');
    f[3] = '[N/A]'; f[9] = '[N/A]'; f[11] = '[Not Supported]'; f[15] = '[N/A]'; f[20] = '[N/A]'; f[13] = '[Unknown Error]';
    const { gpus } = parseQueryCsv(f.join(', '));
    expect(gpus[0]).toMatchObject({ serial: null, powerDrawW: null, enforcedPowerLimitW: null, eccUncorrectedVolatile: null, migMode: null, smClockMHz: null, powerLimitW: 700 });
  });

  it('a row with the wrong field count or a bad UUID is a problem, not a GPU', () => {
    expect(parseQueryCsv('0, GPU-2277f1a9-ccd0, NVIDIA H200').gpus).toEqual([]);
    expect(parseQueryCsv(queryCsv.replace(REAL_UUID, 'not-a-uuid')).problems).toHaveLength(1);
  });

  it('never throws on any text', () => {
    fc.assert(fc.property(fc.string({ maxLength: 400 }), (s) => {
      const r = parseQueryCsv(s);
      return Array.isArray(r.gpus) && Array.isArray(r.problems);
    }), { seed: 12, numRuns: 300 });
  });
});

describe('nvidia-smi -q -x (real H200 output)', () => {
  it('reads the recovery action and row remapper state by UUID', () => {
    const x = parseSmiXml(smiXml);
    expect(x).toEqual([{ uuid: REAL_UUID, pciBusId: '00000000:00:06.0', recoveryAction: 'None', remappedRowFailure: false, driverVersion: '580.159.04' }]);
    const merged = mergeXml(parseQueryCsv(queryCsv).gpus, x);
    expect(merged[0]).toMatchObject({ recoveryAction: 'None', remappedRowFailure: false });
  });

  it('a GPU that needs a reset says so', () => {
    const bad = smiXml.replace('<gpu_recovery_action>None</gpu_recovery_action>', '<gpu_recovery_action>GPU Reset</gpu_recovery_action>')
      .replace('<remapped_row_failure>No</remapped_row_failure>', '<remapped_row_failure>Yes</remapped_row_failure>');
    expect(parseSmiXml(bad)[0]).toMatchObject({ recoveryAction: 'GPU Reset', remappedRowFailure: true });
  });

  it('garbage is no GPU', () => {
    expect(parseSmiXml('<nvidia_smi_log><gpu id="x"></gpu>')).toEqual([]);
    expect(parseSmiXml('')).toEqual([]);
  });
});

describe('names and XIDs', () => {
  it('maps reported names to the catalog', () => {
    expect(modelOfName('NVIDIA H200')).toBe('H200');
    expect(modelOfName('NVIDIA H100 80GB HBM3')).toBe('H100-SXM');
    expect(modelOfName('NVIDIA H100 PCIe')).toBeNull();
    expect(modelOfName('NVIDIA H200 NVL')).toBeNull();
    expect(modelOfName('NVIDIA B200')).toBe('B200');
    expect(modelOfName('NVIDIA GB200')).toBe('GB200');
    expect(modelOfName('AMD Instinct MI300X')).toBe('MI300X');
    expect(modelOfName('Tesla T4')).toBeNull();
  });

  it('reads XID codes from kernel log lines, by bus id in nvidia-smi form', () => {
    const log = '[ 12.3] NVRM: Xid (PCI:0000:1b:00): 79, pid=\'<unknown>\', name=<unknown>, GPU has fallen off the bus.\n' +
      '[ 13.0] NVRM: Xid (PCI:0000:1b:00): 48, pid=1, DBE\n[ 14.0] something else\n';
    expect([...parseXidLog(log)]).toEqual([['00000000:1B:00.0', [79, 48]]]);
  });
});

describe('running nvidia-smi', () => {
  const fakeSmi = (script: string): string => {
    const dir = mkdtempSync(join(tmpdir(), 'smi-'));
    const bin = join(dir, 'nvidia-smi');
    writeFileSync(bin, `#!/bin/sh\n${script}\n`);
    chmodSync(bin, 0o755);
    return bin;
  };

  it('reads the real outputs through a stand-in binary', async () => {
    const bin = fakeSmi(`if [ "$1" = "-q" ]; then cat '${join(FIX, 'smi-q.xml')}'; else cat '${join(FIX, 'query.csv')}'; fi`);
    const d = await nvidiaSmiDiscovery(bin, () => 5)();
    expect(d).toMatchObject({ atMs: 5, error: null, driverVersion: '580.159.04' });
    expect(d.gpus.map((g) => [g.uuid, g.model, g.recoveryAction])).toEqual([[REAL_UUID, 'H200', 'None']]);
  });

  it('a failed nvidia-smi is a discovery error, not a crash', async () => {
    const bin = fakeSmi('echo "NVIDIA-SMI has failed because it couldn\'t communicate with the NVIDIA driver." >&2; exit 9');
    const d = await nvidiaSmiDiscovery(bin)();
    expect(d.gpus).toEqual([]);
    expect(d.error).toMatch(/exited with code 9: NVIDIA-SMI has failed/);
  });

  it('a missing nvidia-smi is a discovery error', async () => {
    const d = await nvidiaSmiDiscovery('/nonexistent/nvidia-smi')();
    expect(d.error).toBe('/nonexistent/nvidia-smi not found');
  });
});
