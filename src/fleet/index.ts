export * from './gpu-catalog.js';
export * from './fleet-types.js';
export * from './fleet-spec.js';
export * from './fleet-diff.js';
export * from './fleet-capacity.js';
export * from './topology.js';
export * from './fleet-service.js';
export * from './fleet-jobs.js';
