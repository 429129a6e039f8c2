/** What the shell hands each view. */
export interface ViewContext {
  /** Shows an error to the user (and signs out on 401). */
  onError(err: unknown): void;
}
