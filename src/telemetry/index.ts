export * from './telemetry-schema.js';
export * from './telemetry-repo.js';
export * from './node-health.js';
export * from './telemetry-state.js';
export * from './telemetry-service.js';
export * from './nats-telemetry.js';
export * from './power-admission.js';
export * from './enrol-limits.js';
