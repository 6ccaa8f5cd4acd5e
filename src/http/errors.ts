import { type ErrorCode, isTaskledgerError } from "../core/errors.js";

/** Codes the HTTP layer adds to the library's own (authentication, origin, size, routing). */
export type HttpErrorCode =
  | ErrorCode
  | "unauthorized"
  | "forbidden"
  | "method_not_allowed"
  | "payload_too_large"
  | "unsupported_media_type"
  | "internal";

/** An error with its HTTP status; thrown by routes, turned into a response in one place. */
export class HttpError extends Error {
  override readonly name = "HttpError";
  readonly status: number;
  readonly code: HttpErrorCode;
  readonly field: string | undefined;

  constructor(status: number, code: HttpErrorCode, message: string, field?: string) {
    super(message);
    this.status = status;
    this.code = code;
    this.field = field;
  }
}

const STATUS_OF: Record<ErrorCode, number> = {
  invalid_input: 400,
  unknown_task: 400,
  not_found: 404,
  conflict: 409,
  unavailable: 503,
  closed: 503,
};

export interface ErrorBody {
  readonly error: { readonly code: HttpErrorCode; readonly message: string; readonly field?: string };
}

/** Seconds a client is asked to wait before trying again after a 503 (storage busy or full). */
export const RETRY_AFTER_SECONDS = 2;

/**
 * Anything thrown → status, `{ error: { code, message, field? } }` and the headers that go with
 * it (`Retry-After` on 503). Unknown errors say nothing of their insides.
 */
export function describeHttpError(error: unknown): {
  status: number;
  body: ErrorBody;
  headers: Record<string, string>;
} {
  const described = (status: number, body: ErrorBody) => {
    const headers: Record<string, string> = {};
    if (status === 503) headers["retry-after"] = String(RETRY_AFTER_SECONDS);
    return { status, body, headers };
  };
  if (error instanceof HttpError)
    return described(error.status, errorBody(error.code, error.message, error.field));
  if (isTaskledgerError(error)) {
    return described(STATUS_OF[error.code] ?? 500, errorBody(error.code, error.message, error.field));
  }
  return described(500, errorBody("internal", "internal error", undefined));
}

function errorBody(code: HttpErrorCode, message: string, field: string | undefined): ErrorBody {
  return { error: field === undefined ? { code, message } : { code, message, field } };
}

export const notFound = (what = "no such resource") => new HttpError(404, "not_found", what);
