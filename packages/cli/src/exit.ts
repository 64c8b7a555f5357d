import { EXIT, GitBridgeError, type ExitCode } from '@gitbridge/core/errors';

export { EXIT };
export type { ExitCode };

/**
 * A usage error (`GB_CLI_USAGE`, exit 2): bad flags or arguments, a missing
 * secret, an unknown event or action. `main` prints its message and hint on
 * one or two lines, without a stack trace.
 */
export function usageError(message: string, hint?: string): GitBridgeError {
  return new GitBridgeError('GB_CLI_USAGE', { message, ...(hint !== undefined ? { hint } : {}) });
}
