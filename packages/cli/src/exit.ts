/**
 * Exit codes of `gitbridge`, documented in `packages/cli/README.md`. Scripts
 * branch on these, so they never change meaning.
 */
export const EXIT = {
  /** Success (for `send-test`: the daemon answered 2xx). */
  ok: 0,
  /** The daemon answered non-2xx, or the thing asked for was not found or not possible. */
  failed: 1,
  /** Usage error: bad flags or arguments, missing secret, unknown event or action, unreadable payload file. */
  usage: 2,
  /** The daemon (or the meta API) could not be reached or did not answer in time. */
  unreachable: 3,
  /** The store (or the data directory) is missing, unreadable or not writable. */
  store: 4,
} as const;

/** One of the values of {@link EXIT}. */
export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/**
 * An error meant for the user: `main` prints its message (and hint) on one or
 * two lines, without a stack trace, and exits with `exitCode`.
 */
export class CliError extends Error {
  /** The process exit code. */
  readonly exitCode: ExitCode;
  /** What to do about it, printed after the message. */
  readonly hint: string | undefined;

  /**
   * @param message what went wrong, one line
   * @param exitCode the process exit code
   * @param hint optional advice, printed as `hint: …`
   */
  constructor(message: string, exitCode: ExitCode, hint?: string) {
    super(message);
    this.name = 'CliError';
    this.exitCode = exitCode;
    this.hint = hint;
  }
}

/** A {@link CliError} with exit code 2 (usage). */
export function usageError(message: string, hint?: string): CliError {
  return new CliError(message, EXIT.usage, hint);
}
