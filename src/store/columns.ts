/** Column types shared by every domain's tables. */
import { customType, timestamp } from 'drizzle-orm/pg-core';

/** PostgreSQL tstzrange, written as a range literal such as `[2026-01-01T00:00:00.000Z,2026-01-02T00:00:00.000Z)`. */
export const tstzrange = customType<{ data: string; driverData: string }>({
  dataType: () => 'tstzrange',
});

/** timestamptz, read as a Date. */
export const ts = (name: string) => timestamp(name, { withTimezone: true, mode: 'date' });
