/**
 * What a test run owes CI. In CI (`CI=true` or `CI=1`, as .ci/run and hosted CI set it) every input
 * and service a test needs must be there: a missing one fails the run instead of skipping tests (a
 * green run that never read the traces or touched PostgreSQL proves nothing about them). Locally,
 * a test that needs a missing one is skipped, and its name says why.
 */
export const IN_CI = /^(true|1)$/i.test(process.env['CI'] ?? '');

/**
 * For `it.skipIf`/`describe.skipIf`: `reason` (why `what` is unavailable, or null when it is
 * there) to skip with locally; in CI an unavailable `what` throws, failing the file.
 */
export function unavailable(what: string, reason: string | null): string | null {
  if (reason !== null && IN_CI) throw new Error(`CI: ${what} is required but unavailable: ${reason}`);
  return reason;
}

/** A test name that says why it is skipped, when it is. */
export const named = (name: string, skipped: string | null): string => (skipped === null ? name : `${name} (skipped: ${skipped})`);
