#!/usr/bin/env node
// Bundles the node agent into one file, dist/agent-bundle/neocloud-agent.mjs (~40 KB): Node 20 and
// that file are all a GPU server needs (`nats` is loaded only when NATS_URL is set; without the
// package the agent says so and uses HTTP). `npm run build:agent`.
import { build } from 'esbuild';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
await build({
  entryPoints: [`${root}src/agent/cli.ts`], bundle: true, platform: 'node', format: 'esm', target: 'node20',
  outfile: `${root}dist/agent-bundle/neocloud-agent.mjs`, external: ['nats'], logLevel: 'warning',
  banner: { js: '#!/usr/bin/env node' },
});
process.stdout.write('built dist/agent-bundle/neocloud-agent.mjs\n');
