export * from './principal.js';
export * from './tenant-service.js';
