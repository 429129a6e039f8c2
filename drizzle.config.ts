import { defineConfig } from 'drizzle-kit';

export default defineConfig({
  dialect: 'postgresql',
  // Each domain owns its tables; drizzle-kit reads them all into one migration history.
  schema: ['./src/fleet/fleet-schema.ts', './src/tenancy/tenancy-schema.ts', './src/leasing/lease-schema.ts', './src/events/event-schema.ts', './src/app/settings.ts', './src/telemetry/telemetry-schema.ts', './src/billing/billing-schema.ts'],
  out: './migrations',
});
