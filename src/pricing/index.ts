/** Pricing: the rate card (prices per tenant) and money's rounding rules. Imported by leasing, billing, the CLI and the console. */
export * from './money.js';
export * from './rate-card.js';
