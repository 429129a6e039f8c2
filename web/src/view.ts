/**
 * What the shell hands each page, and what a page is. Adding a page: write a module exporting a
 * `Page` (its route, nav title, roles, render function) and list it in pages.ts; the shell does
 * routing, the nav, role checks, the error banner and the live updates.
 */
import type { LiveEvent } from './live.js';

export type Role = 'operator' | 'tenant';

/** Who the console is signed in as, from GET /v1/me. */
export interface Session {
  role: Role;
  tenantId: string | null;
  tenantName: string | null;
  /** The id of the key in use (never the secret). */
  keyId: string;
}

export interface ViewContext {
  /** Shows an error to the user (and signs out on 401). */
  onError(err: unknown): void;
  /** Clears the error banner (a later success makes an earlier error stale). */
  clearError(): void;
  /** The current session; it changes when the console switches keys. */
  session(): Session;
  /** Switches the console to another key (the new admin key after a rotation) without re-rendering the view. */
  useKey(key: string): Promise<Session>;
  /** Signs out and says why (e.g. the key in use was revoked). */
  signOut(reason: string): void;
  /** The route's parameters: `#/leases/lse_1` → ['lse_1']. */
  params: string[];
  /**
   * Calls `fn` with each batch of new events from the log while this page is shown (dropped on
   * navigation): the page re-reads what it shows, so changes made elsewhere appear without a reload.
   * An empty batch (every 30 s) means time passed: re-read what derives from the clock.
   */
  onEvents(fn: (events: LiveEvent[]) => void): void;
  /** This console changed something: look for events now rather than at the next poll. */
  poke(): void;
  /** A tenant's name by id (operator; the tenant's own name for a tenant), or the id when unknown. */
  tenantName(id: string): string;
  /** The control plane's clock now (its time at sign-in, moved on by the browser's clock), ms. */
  serverNowMs(): number;
  /** Re-reads the tenant list (after creating a tenant). */
  reloadTenants(): Promise<void>;
}

export interface Page {
  route: string;
  /** The nav label; null: not in the nav (a detail page). */
  title: string | null;
  roles: readonly Role[];
  render(el: HTMLElement, ctx: ViewContext): Promise<void>;
}
