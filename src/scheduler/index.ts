export * from './scheduler-types.js';
export * from './simulator.js';
export * from './workload.js';
export * from './traces.js';
export * from './fleet-layout.js';
export * from './sim-inputs.js';
