export * from './principal.js';
export * from './tenant-service.js';
export * from './tenancy-schema.js';
export * from './tenant-repo.js';
export * from './idempotency-repo.js';
