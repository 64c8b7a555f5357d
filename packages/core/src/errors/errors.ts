/**
 * The error catalogue. Every error GitBridge answers or throws on purpose has a
 * stable `code` (`GB_<AREA>_<WHAT>`), an HTTP status and a default message.
 * Callers branch on `err.code`, never on message text. `docs/errors.md`
 * documents every code; a test fails when one is missing there.
 */
export const ERROR_CATALOGUE = {
  GB_WEBHOOK_MISSING_HEADER: { status: 400, message: 'A required GitHub webhook header is missing' },
  GB_WEBHOOK_INVALID_PAYLOAD: { status: 400, message: 'The webhook payload is not valid' },
  GB_WEBHOOK_SIGNATURE_MISSING: { status: 401, message: 'The X-Hub-Signature-256 header is missing' },
  GB_WEBHOOK_SIGNATURE_MISMATCH: { status: 401, message: 'The X-Hub-Signature-256 signature does not match the payload' },
  GB_WEBHOOK_FORBIDDEN_ADDRESS: { status: 403, message: 'The source address is not in the allowed hook ranges' },
  GB_WEBHOOK_PAYLOAD_TOO_LARGE: { status: 413, message: 'The payload is larger than the configured limit' },
  GB_WEBHOOK_UNSUPPORTED_CONTENT_TYPE: {
    status: 415,
    message: 'Unsupported content type: set the hook content type to application/json',
  },
  GB_WEBHOOK_RATE_LIMITED: { status: 429, message: 'Rate limit exceeded' },
  GB_WEBHOOK_STORE_UNAVAILABLE: { status: 503, message: 'The delivery could not be stored; ask GitHub to redeliver it' },
  GB_SHUTTING_DOWN: { status: 503, message: 'The daemon is shutting down' },
  GB_CALLBACK_SIGNATURE_MISMATCH: { status: 401, message: 'The X-MAS-Signature-256 signature is missing or does not match' },
  GB_CALLBACK_INVALID: { status: 400, message: 'The MAS callback body is not valid' },
  GB_CALLBACK_UNKNOWN_TASK: { status: 404, message: 'No task with this task_id is tracked' },
  GB_ADMIN_UNAUTHORIZED: { status: 401, message: 'Admin token missing or wrong' },
  GB_NOT_FOUND: { status: 404, message: 'Route not found' },
  GB_DELIVERY_NOT_FOUND: { status: 404, message: 'No stored delivery with this delivery id' },
  GB_BAD_REQUEST: { status: 400, message: 'Bad request' },
  GB_REQUEST_TIMEOUT: { status: 408, message: 'The request body did not arrive in time' },
  GB_HEADERS_TOO_LARGE: { status: 431, message: 'The request headers are too large' },
  GB_INTERNAL: { status: 500, message: 'Internal error' },
  GB_CONFIG_INVALID: { status: 500, message: 'The configuration is not valid' },
  GB_RULES_INVALID: { status: 500, message: 'The routing rules are not valid' },
  GB_STORE_ERROR: { status: 500, message: 'The store failed' },
  GB_MAS_UNREACHABLE: { status: 502, message: 'The MAS could not be reached' },
  GB_MAS_REJECTED: { status: 502, message: 'The MAS rejected the task' },
  GB_MAS_RETRYABLE: { status: 502, message: 'The MAS answered with a retryable error' },
} as const satisfies Record<string, { status: number; message: string }>;

/** A stable GitBridge error code, one of the keys of {@link ERROR_CATALOGUE}. */
export type ErrorCode = keyof typeof ERROR_CATALOGUE;

/** Options for {@link GitBridgeError}. */
export interface GitBridgeErrorOptions {
  /** Overrides the catalogue's default message. */
  readonly message?: string;
  /** A hint for the operator (what to do about it). */
  readonly hint?: string;
  /** The underlying error. */
  readonly cause?: unknown;
  /** Extra HTTP headers to send with the error (e.g. `Retry-After`). */
  readonly headers?: Readonly<Record<string, string>>;
}

/**
 * The one error class GitBridge throws on purpose. `code` is stable,
 * `statusCode` comes from the catalogue.
 */
export class GitBridgeError extends Error {
  readonly code: ErrorCode;
  readonly statusCode: number;
  readonly hint: string | undefined;
  readonly headers: Readonly<Record<string, string>>;

  constructor(code: ErrorCode, options: GitBridgeErrorOptions = {}) {
    super(options.message ?? ERROR_CATALOGUE[code].message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'GitBridgeError';
    this.code = code;
    this.statusCode = ERROR_CATALOGUE[code].status;
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
  413: 'Payload Too Large',
  415: 'Unsupported Media Type',
  429: 'Too Many Requests',
  431: 'Request Header Fields Too Large',
  500: 'Internal Server Error',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
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
