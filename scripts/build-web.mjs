// Builds the web console: bundles web/src/main.ts with esbuild and copies the static files to web/dist.
import { build } from 'esbuild';
import { cpSync, mkdirSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../web/', import.meta.url));
mkdirSync(`${root}dist`, { recursive: true });
for (const f of readdirSync(`${root}public`)) cpSync(`${root}public/${f}`, `${root}dist/${f}`, { recursive: true });
await build({
  entryPoints: [`${root}src/main.ts`],
  bundle: true,
  format: 'esm',
  target: 'es2022',
  minify: true,
  sourcemap: true,
  outfile: `${root}dist/app.js`,
  logLevel: 'warning',
});
console.log('web console built in web/dist');
