/** `npm run bench -- NAME [args]`: one script per claim in bench/. */
const name = process.argv[2];
const benches: Record<string, () => Promise<{ main(args: string[]): Promise<void> }>> = {
  console: () => import('./console.js'),
  ingest: () => import('./ingest.js'),
  invoice: () => import('./invoice.js'),
  leases: () => import('./leases.js'),
  preemption: () => import('./preemption.js'),
  scheduler: () => import('./scheduler.js'),
  traces: () => import('./traces.js'),
  telemetry: () => import('./telemetry.js'),
};
const load = name ? benches[name] : undefined;
if (!load) {
  process.stderr.write(`usage: npm run bench -- <${Object.keys(benches).join('|')}> [options]\n`);
  process.exit(2);
}
await (await load()).main(process.argv.slice(3));
