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

/** Anything thrown → status and `{ error: { code, message, field? } }`. Unknown errors say nothing of their insides. */
export function describeHttpError(error: unknown): { status: number; body: ErrorBody } {
  if (error instanceof HttpError) {
    return { status: error.status, body: errorBody(error.code, error.message, error.field) };
  }
  if (isTaskledgerError(error)) {
    return { status: STATUS_OF[error.code] ?? 500, body: errorBody(error.code, error.message, error.field) };
  }
  return { status: 500, body: errorBody("internal", "internal error", undefined) };
}

function errorBody(code: HttpErrorCode, message: string, field: string | undefined): ErrorBody {
  return { error: field === undefined ? { code, message } : { code, message, field } };
}

export const notFound = (what = "no such resource") => new HttpError(404, "not_found", what);
