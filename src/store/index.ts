export { openDb, MIGRATIONS_DIR, type Db, type DbHandle, type OpenOptions } from './db.js';
export * from './store.js';
