export * from './event-schema.js';
export * from './event-log.js';
export * from './event-feed.js';
export * from './event-data.js';
export * from './log-consumer.js';
export * from './nats-relay.js';
