import { defineConfig } from 'drizzle-kit';

export default defineConfig({
  dialect: 'postgresql',
  // Each domain owns its tables; drizzle-kit reads them all into one migration history.
  schema: ['./src/store/schema.ts', './src/events/event-schema.ts'],
  out: './migrations',
});
