/** What the shell hands each view. */

/** Who the console is signed in as, from GET /v1/whoami. */
export interface Session {
  role: 'operator' | 'tenant';
  tenantId: string | null;
  /** The id of the key in use (never the secret). */
  keyId: string;
}

export interface ViewContext {
  /** Shows an error to the user (and signs out on 401). */
  onError(err: unknown): void;
  /** The current session; it changes when the console switches keys. */
  session(): Session;
  /** Switches the console to another key (the new admin key after a rotation) without re-rendering the view. */
  useKey(key: string): Promise<Session>;
  /** Signs out and says why (e.g. the key in use was revoked). */
  signOut(reason: string): void;
}
