/**
 * Leasing's view of the rate card (src/pricing): the engine prices through a Quoter and never
 * computes a price itself. Re-exported here so leasing's callers keep one import path.
 */
export { LIST_TERMS, PriceBook, PriceBookQuoter, RateCard, priced, weightMicros, type Quote, type QuoteRequest, type Quoter, type TenantTerms } from '../pricing/index.js';
export { MAX_MICROS } from '../pricing/index.js';
