// `npm start`'s build step: rebuild the server (tsc → dist/) and the web console (esbuild → web/dist/)
// only when their inputs changed since the last build, so a restart takes seconds instead of a full
// build. Each output folder keeps a stamp: the SHA-256 of its inputs' paths and contents (contents,
// not mtimes, so a checkout or `touch` that changes nothing rebuilds nothing). Migrations are read
// from migrations/ at run time and are not build inputs. `--force` (`npm run build`) builds everything.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
process.chdir(root);
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
const force = process.argv.includes('--force');
// tsc's incremental state assumes its earlier outputs are still there; a forced build starts over.
if (force) rmSync('dist/.tsbuildinfo', { force: true });

/** Files under `dir` (relative, sorted) that `keep` accepts; none when `dir` does not exist. */
function walk(dir, keep = () => true) {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath ?? e.path, e.name))
    .filter(keep)
    .sort();
}

const shared = ['package.json', 'package-lock.json', 'tsconfig.json'];
const serverSources = () => walk('src', (f) => f.endsWith('.ts') && !f.endsWith('.test.ts'));
const targets = [
  {
    name: 'server',
    stamp: 'dist/.build-stamp',
    outputs: ['dist/cli/main.js'],
    inputs: () => [...shared, 'tsconfig.build.json', ...serverSources()],
    // Incremental: after a change tsc re-checks only what the change can affect.
    command: [tsc, '-p', 'tsconfig.build.json', '--incremental', '--tsBuildInfoFile', 'dist/.tsbuildinfo'],
  },
  {
    name: 'web console',
    stamp: 'web/dist/.build-stamp',
    outputs: ['web/dist/app.js', 'web/dist/index.html'],
    // The console imports the server's response types from src/.
    inputs: () => [...shared, 'scripts/build-web.mjs', ...walk('web/src'), ...walk('web/public'), ...serverSources()],
    command: ['scripts/build-web.mjs'],
  },
];

function digest(files) {
  const h = createHash('sha256');
  for (const f of files) h.update(`${f}\0`).update(existsSync(f) ? readFileSync(f) : '').update('\0');
  return h.digest('hex');
}

for (const t of targets) {
  const hash = digest(t.inputs());
  const built = !force && t.outputs.every((f) => existsSync(f)) && existsSync(t.stamp) && readFileSync(t.stamp, 'utf8').trim() === hash;
  if (built) {
    console.log(`${t.name}: up to date`);
    continue;
  }
  console.log(`${t.name}: building`);
  const r = spawnSync(process.execPath, t.command, { stdio: 'inherit' });
  if (r.status !== 0) process.exit(r.status ?? 1);
  writeFileSync(t.stamp, `${hash}\n`);
}
