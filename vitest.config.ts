import { defineConfig } from 'vitest/config';

// Tests run on the TypeScript sources. API and storage tests each start their own
// server/database, so files run in parallel processes (2 cores here).
export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
    globalSetup: ['test/global-setup.ts'],
  },
});
