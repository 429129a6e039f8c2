/**
 * Small key/value settings of the control plane (e.g. whether the demo fleet was loaded): the
 * composition root's own table.
 */
import { eq, sql } from 'drizzle-orm';
import { jsonb, pgTable, text } from 'drizzle-orm/pg-core';
import type { Db } from '../store/index.js';
import { ts } from '../store/columns.js';

/** Small key/value settings (e.g. whether the demo fleet was loaded). */
export const settings = pgTable('settings', {
  key: text('key').primaryKey(),
  value: jsonb('value').notNull(),
  updatedAt: ts('updated_at').notNull().default(sql`now()`),
});

export class Settings {
  constructor(private readonly db: Db) {}

  async get<T>(key: string): Promise<T | undefined> {
    const [r] = await this.db.select().from(settings).where(eq(settings.key, key));
    return r ? (r.value as T) : undefined;
  }

  /** Stores `value` unless the key has one already (the first writer wins; nothing is overwritten). */
  async setIfAbsent(key: string, value: unknown): Promise<void> {
    await this.db.insert(settings).values({ key, value, updatedAt: new Date() }).onConflictDoNothing({ target: settings.key });
  }

  async set(key: string, value: unknown): Promise<void> {
    await this.db
      .insert(settings)
      .values({ key, value, updatedAt: new Date() })
      .onConflictDoUpdate({ target: settings.key, set: { value, updatedAt: new Date() } });
  }
}
