#!/usr/bin/env node
/**
 * Property exploration on fresh random seeds (CI runs fixed ones):
 *
 *   npm run explore -- lifecycle [seeds] [runs-per-seed]     engine lifecycle properties (simulated)
 *   npm run explore -- preemption [seeds] [runs-per-seed]    victim search vs the per-victim scan
 *
 * Prints each seed before it runs, so a failure can be replayed with the variable it prints.
 */
import { spawnSync } from 'node:child_process';
import { randomInt } from 'node:crypto';

const SUITES = {
  lifecycle: { file: 'src/scheduler/lifecycle.property.test.ts', seed: 'LIFECYCLE_SEED', runs: 'LIFECYCLE_RUNS', dfltRuns: 100 },
  preemption: { file: 'test/preemption.property.test.ts', seed: 'PREEMPT_SEED', runs: 'PREEMPT_RUNS', dfltRuns: 60 },
};
const [name = 'lifecycle', seedsArg = '5', runsArg] = process.argv.slice(2);
const suite = SUITES[name];
if (!suite) {
  process.stderr.write(`explore: unknown suite "${name}" (one of ${Object.keys(SUITES).join(', ')})\n`);
  process.exit(2);
}
let failed = 0;
for (let i = 0; i < Number(seedsArg); i++) {
  const seed = randomInt(1, 2 ** 31 - 1);
  const runs = runsArg ?? String(suite.dfltRuns);
  process.stdout.write(`${suite.seed}=${seed} ${suite.runs}=${runs} … `);
  const r = spawnSync('npx', ['vitest', 'run', suite.file], { env: { ...process.env, [suite.seed]: String(seed), [suite.runs]: runs, NEOCLOUD_SKIP_WEB_BUILD: '1' }, encoding: 'utf8' });
  if (r.status === 0) process.stdout.write('passed\n');
  else {
    failed++;
    process.stdout.write(`FAILED\n${(r.stdout + r.stderr).split('\n').filter((l) => /Error|expected|Counterexample|seed/.test(l)).slice(0, 20).join('\n')}\n`);
  }
}
process.exit(failed ? 1 : 0);
