export { openDb, MIGRATIONS_DIR, type Db, type DbHandle, type OpenOptions } from './db.js';
export * from './pg.js';
export { pgTextArray } from './pg-array.js';
export * from './columns.js';
export { CellLeader, LostLeadership, cellLeaders } from './cell-leader.js';
