/**
 * The error catalogue. Every error GitBridge answers or throws on purpose has
 * a stable `code` (`GB_<AREA>_<WHAT>`), an HTTP status, a CLI exit code and a
 * default message. Callers branch on `err.code`, never on message text.
 * `docs/errors.md` lists every code with both numbers; a test
 * (test/docs.test.ts) fails when the page and this table disagree.
 *
 * Both tables are typed by the code: a code added to one and not the other
 * fails the type check.
 */
export const ERROR_CATALOGUE = {
  // ---- POST /webhook
  GB_WEBHOOK_MISSING_HEADER: { status: 400, message: 'A required GitHub webhook header is missing' },
  GB_WEBHOOK_INVALID_PAYLOAD: { status: 400, message: 'The webhook payload is not valid' },
  GB_WEBHOOK_SIGNATURE_MISSING: { status: 401, message: 'The X-Hub-Signature-256 header is missing' },
  GB_WEBHOOK_SIGNATURE_MISMATCH: { status: 401, message: 'The X-Hub-Signature-256 signature does not match the payload' },
  GB_WEBHOOK_FORBIDDEN_ADDRESS: { status: 403, message: 'The source address is not in the allowed hook ranges' },
  // 403 like the allowlist it protects: the request is well-formed (400 would
  // blame the sender, who can change nothing), and 421 is about a connection
  // reused for another authority, which clients retry elsewhere.
  GB_PROXY_UNTRUSTED: { status: 403, message: 'Forwarding headers from a peer that is not a trusted proxy: set GITBRIDGE_TRUST_PROXY' },
  GB_WEBHOOK_PAYLOAD_TOO_LARGE: { status: 413, message: 'The payload is larger than the configured limit' },
  GB_WEBHOOK_UNSUPPORTED_CONTENT_TYPE: { status: 415, message: 'Unsupported content type: set the hook content type to application/json' },
  GB_WEBHOOK_RATE_LIMITED: { status: 429, message: 'Rate limit exceeded' },
  GB_WEBHOOK_STORE_UNAVAILABLE: { status: 503, message: 'The delivery could not be stored; ask GitHub to redeliver it' },
  GB_SHUTTING_DOWN: { status: 503, message: 'The daemon is shutting down' },
  // ---- POST /mas/callback
  GB_CALLBACK_SIGNATURE_MISMATCH: { status: 401, message: 'The X-MAS-Signature-256 signature is missing or does not match' },
  GB_CALLBACK_INVALID: { status: 400, message: 'The MAS callback body is not valid' },
  GB_CALLBACK_UNKNOWN_TASK: { status: 404, message: 'No task with this task_id is tracked' },
  // ---- admin API and read model
  GB_ADMIN_UNAUTHORIZED: { status: 401, message: 'Admin token missing or wrong' },
  // 403, not 401 or 404: no token would be accepted, and the route exists.
  GB_ADMIN_DISABLED: { status: 403, message: 'The admin API is off: gitbridged runs without GITBRIDGE_ADMIN_TOKEN' },
  GB_DELIVERY_NOT_FOUND: { status: 404, message: 'No stored delivery with this delivery id' },
  GB_DELIVERY_NOT_RETRIABLE: { status: 409, message: 'Only a dead delivery can be queued again' },
  GB_TASK_NOT_FOUND: { status: 404, message: 'No task with this id' },
  GB_TASK_NOT_RETRIABLE: { status: 409, message: 'Only a failed or dead task can be retried' },
  // 400, not 404: something matched; the request must name one of them.
  GB_ID_AMBIGUOUS: { status: 400, message: 'The id prefix matches more than one id' },
  GB_ID_PREFIX_TOO_SHORT: { status: 400, message: 'An id prefix needs at least 4 characters' },
  // ---- any route
  GB_NOT_FOUND: { status: 404, message: 'Route not found' },
  GB_BAD_REQUEST: { status: 400, message: 'Bad request' },
  GB_REQUEST_TIMEOUT: { status: 408, message: 'The request body did not arrive in time' },
  GB_EXPECTATION_FAILED: { status: 417, message: 'The Expect header asks for something other than 100-continue' },
  GB_HEADERS_TOO_LARGE: { status: 431, message: 'The request headers are too large' },
  GB_INTERNAL: { status: 500, message: 'Internal error' },
  // ---- configuration and start-up
  GB_CONFIG_INVALID: { status: 500, message: 'The configuration is not valid' },
  GB_RULES_INVALID: { status: 500, message: 'The routing rules are not valid' },
  GB_LOG_UNAVAILABLE: { status: 500, message: 'A log file cannot be opened or read' },
  // ---- the store
  GB_STORE_NOT_FOUND: { status: 500, message: 'No GitBridge store at this location' },
  GB_STORE_SCHEMA_MISMATCH: { status: 500, message: 'The store schema version does not match this GitBridge' },
  GB_STORE_DISK_SPACE: { status: 507, message: 'Not enough free disk space for the store' },
  GB_STORE_UNAVAILABLE: { status: 503, message: 'The store cannot be reached or cannot commit' },
  GB_STORE_CLAIM_LOST: { status: 409, message: 'The claim on this queue item was lost (its lease ran out and another worker claimed it)' },
  GB_STORE_ERROR: { status: 500, message: 'The store failed' },
  // ---- peers: MAS, chat service, GitHub
  GB_MAS_UNREACHABLE: { status: 502, message: 'The MAS could not be reached' },
  GB_MAS_REJECTED: { status: 502, message: 'The MAS rejected the task' },
  GB_MAS_RETRYABLE: { status: 502, message: 'The MAS answered with a retryable error' },
  GB_NOTIFY_FAILED: { status: 502, message: 'The chat service did not accept the notification' },
  GB_GITHUB_META_FAILED: { status: 502, message: "GitHub's meta API did not give valid hook ranges" },
  GB_GITHUB_AUTH_FAILED: { status: 502, message: "GitHub's API refused the credentials (or their permissions)" },
  GB_GITHUB_HOOK_NOT_FOUND: { status: 502, message: "GitHub's API knows no such hook, or the credentials cannot see it" },
  GB_GITHUB_RATE_LIMITED: { status: 503, message: "GitHub's API rate limit is exhausted" },
  GB_GITHUB_API_FAILED: { status: 502, message: "GitHub's API could not be reached or answered with an error" },
  // ---- recovery of missed deliveries
  GB_RECOVERY_NOT_CONFIGURED: { status: 500, message: 'Recovery needs hooks to watch and credentials for them' },
  GB_RECOVERY_BUSY: { status: 409, message: 'Another recovery pass is running on this store' },
  GB_RECOVERY_INCOMPLETE: { status: 502, message: 'The recovery pass did not complete' },
  GB_HOOKS_SNAPSHOT_INVALID: { status: 500, message: 'The hook ranges snapshot is not valid' },
  // ---- the gitbridge CLI
  GB_CLI_USAGE: { status: 400, message: 'Invalid command-line usage' },
  GB_CLI_INPUT_UNREADABLE: { status: 400, message: 'An input file cannot be read' },
  GB_DAEMON_UNREACHABLE: { status: 502, message: 'gitbridged cannot be reached' },
  GB_DAEMON_TIMEOUT: { status: 504, message: 'gitbridged did not answer in time' },
  GB_DATA_DIR_UNWRITABLE: { status: 500, message: 'The data directory cannot be written' },
} as const satisfies Record<string, { status: number; message: string }>;

/** A stable GitBridge error code, one of the keys of {@link ERROR_CATALOGUE}. */
export type ErrorCode = keyof typeof ERROR_CATALOGUE;

/**
 * Exit codes of the `gitbridge` CLI (and of `gitbridged` at start-up).
 * Scripts branch on these, so they never change meaning.
 */
export const EXIT = {
  /** Success (for `send-test`: the daemon answered 2xx). */
  ok: 0,
  /** The daemon answered non-2xx, or the thing asked for was not found or not possible. */
  failed: 1,
  /** Usage or configuration error: bad flags, arguments, settings (GitHub credentials and hook paths included), or an unreadable input file. */
  usage: 2,
  /** A peer (the daemon, GitHub's API) could not be reached or did not answer in time. */
  unreachable: 3,
  /** The store (or the data directory) is missing, unreadable, not writable or of another schema version. */
  store: 4,
} as const;

/** One of the values of {@link EXIT}. */
export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** The exit code for each error code; `docs/errors.md` lists them. */
export const EXIT_CODES: Readonly<Record<ErrorCode, ExitCode>> = {
  GB_WEBHOOK_MISSING_HEADER: EXIT.failed,
  GB_WEBHOOK_INVALID_PAYLOAD: EXIT.failed,
  GB_WEBHOOK_SIGNATURE_MISSING: EXIT.failed,
  GB_WEBHOOK_SIGNATURE_MISMATCH: EXIT.failed,
  GB_WEBHOOK_FORBIDDEN_ADDRESS: EXIT.failed,
  GB_PROXY_UNTRUSTED: EXIT.failed,
  GB_WEBHOOK_PAYLOAD_TOO_LARGE: EXIT.failed,
  GB_WEBHOOK_UNSUPPORTED_CONTENT_TYPE: EXIT.failed,
  GB_WEBHOOK_RATE_LIMITED: EXIT.failed,
  GB_WEBHOOK_STORE_UNAVAILABLE: EXIT.failed,
  GB_SHUTTING_DOWN: EXIT.failed,
  GB_CALLBACK_SIGNATURE_MISMATCH: EXIT.failed,
  GB_CALLBACK_INVALID: EXIT.failed,
  GB_CALLBACK_UNKNOWN_TASK: EXIT.failed,
  GB_ADMIN_UNAUTHORIZED: EXIT.failed,
  GB_ADMIN_DISABLED: EXIT.failed,
  GB_DELIVERY_NOT_FOUND: EXIT.failed,
  GB_DELIVERY_NOT_RETRIABLE: EXIT.failed,
  GB_TASK_NOT_FOUND: EXIT.failed,
  GB_TASK_NOT_RETRIABLE: EXIT.failed,
  GB_ID_AMBIGUOUS: EXIT.failed,
  GB_ID_PREFIX_TOO_SHORT: EXIT.usage,
  GB_NOT_FOUND: EXIT.failed,
  GB_BAD_REQUEST: EXIT.failed,
  GB_REQUEST_TIMEOUT: EXIT.failed,
  GB_EXPECTATION_FAILED: EXIT.failed,
  GB_HEADERS_TOO_LARGE: EXIT.failed,
  GB_INTERNAL: EXIT.failed,
  GB_CONFIG_INVALID: EXIT.usage,
  GB_RULES_INVALID: EXIT.usage,
  GB_LOG_UNAVAILABLE: EXIT.failed,
  GB_STORE_NOT_FOUND: EXIT.store,
  GB_STORE_SCHEMA_MISMATCH: EXIT.store,
  GB_STORE_DISK_SPACE: EXIT.store,
  GB_STORE_UNAVAILABLE: EXIT.store,
  GB_STORE_CLAIM_LOST: EXIT.store,
  GB_STORE_ERROR: EXIT.store,
  GB_MAS_UNREACHABLE: EXIT.unreachable,
  GB_MAS_REJECTED: EXIT.failed,
  GB_MAS_RETRYABLE: EXIT.failed,
  GB_NOTIFY_FAILED: EXIT.failed,
  GB_GITHUB_META_FAILED: EXIT.unreachable,
  GB_GITHUB_AUTH_FAILED: EXIT.usage,
  GB_GITHUB_HOOK_NOT_FOUND: EXIT.usage,
  GB_GITHUB_RATE_LIMITED: EXIT.unreachable,
  GB_GITHUB_API_FAILED: EXIT.unreachable,
  GB_RECOVERY_NOT_CONFIGURED: EXIT.usage,
  GB_RECOVERY_BUSY: EXIT.failed,
  GB_RECOVERY_INCOMPLETE: EXIT.failed,
  GB_HOOKS_SNAPSHOT_INVALID: EXIT.usage,
  GB_CLI_USAGE: EXIT.usage,
  GB_CLI_INPUT_UNREADABLE: EXIT.usage,
  GB_DAEMON_UNREACHABLE: EXIT.unreachable,
  GB_DAEMON_TIMEOUT: EXIT.unreachable,
  GB_DATA_DIR_UNWRITABLE: EXIT.store,
};

/** Options for {@link GitBridgeError}. */
export interface GitBridgeErrorOptions {
  /** Overrides the catalogue's default message. */
  readonly message?: string;
  /** A hint for the operator (what to do about it). */
  readonly hint?: string;
  /** The underlying error. */
  readonly cause?: unknown;
  /** HTTP headers that go with the answer (`Retry-After` of a 429 or 503, `Connection: close`). */
  readonly headers?: Readonly<Record<string, string>>;
}

/**
 * The one error class GitBridge throws on purpose. `code` is stable;
 * `statusCode` and `exitCode` come from the tables above.
 */
export class GitBridgeError extends Error {
  readonly code: ErrorCode;
  /** HTTP status of the answer carrying this error. */
  readonly statusCode: number;
  /** CLI exit code for this error. */
  readonly exitCode: ExitCode;
  readonly hint: string | undefined;
  readonly headers: Readonly<Record<string, string>>;

  constructor(code: ErrorCode, options: GitBridgeErrorOptions = {}) {
    super(options.message ?? ERROR_CATALOGUE[code].message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'GitBridgeError';
    this.code = code;
    this.statusCode = ERROR_CATALOGUE[code].status;
    this.exitCode = EXIT_CODES[code];
    this.hint = options.hint;
    this.headers = options.headers ?? {};
  }
}

/** The JSON body of every error response: `{ statusCode, code, error, message }`. */
export interface ErrorBody {
  readonly statusCode: number;
  readonly code: ErrorCode;
  /** The HTTP reason phrase, e.g. `Unauthorized`. */
  readonly error: string;
  readonly message: string;
}

const REASONS: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  408: 'Request Timeout',
  409: 'Conflict',
  413: 'Payload Too Large',
  415: 'Unsupported Media Type',
  417: 'Expectation Failed',
  429: 'Too Many Requests',
  431: 'Request Header Fields Too Large',
  500: 'Internal Server Error',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
  507: 'Insufficient Storage',
};

/** Builds the error body for an error code, optionally with a specific message. */
export function errorBody(code: ErrorCode, message?: string): ErrorBody {
  const statusCode = ERROR_CATALOGUE[code].status;
  return { statusCode, code, error: REASONS[statusCode] ?? 'Error', message: message ?? ERROR_CATALOGUE[code].message };
}

/** True when `err` is a {@link GitBridgeError}, optionally with the given code. */
export function isGitBridgeError(err: unknown, code?: ErrorCode): err is GitBridgeError {
  return err instanceof GitBridgeError && (code === undefined || err.code === code);
}

/** The `code` of an error from Node or a driver (`ECONNREFUSED`, `SQLITE_FULL`, `57P01`), or undefined. */
export function errorCodeOf(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' || typeof code === 'number' ? String(code) : undefined;
}
