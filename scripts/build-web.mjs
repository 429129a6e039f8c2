// Builds the web console: bundles web/src/main.ts with esbuild (ES modules, code splitting: the
// chart library is a chunk of its own, loaded by the pages that draw charts) and copies the static
// files to web/dist.
import { build } from 'esbuild';
import { cpSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../web/', import.meta.url));
rmSync(`${root}dist`, { recursive: true, force: true });
mkdirSync(`${root}dist`, { recursive: true });
for (const f of readdirSync(`${root}public`)) cpSync(`${root}public/${f}`, `${root}dist/${f}`, { recursive: true });
await build({
  entryPoints: { app: `${root}src/main.ts` },
  bundle: true,
  format: 'esm',
  splitting: true,
  chunkNames: 'chunks/[name]-[hash]',
  target: 'es2022',
  minify: true,
  sourcemap: true,
  outdir: `${root}dist`,
  logLevel: 'warning',
});
console.log('web console built in web/dist');
