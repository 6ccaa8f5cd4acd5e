export { type Authenticate, ownerScope, type Principal } from "./auth.js";
export { describeHttpError, type ErrorBody, HttpError, type HttpErrorCode } from "./errors.js";
export { notificationToJson } from "./events.js";
export { createHttpHandler, type HttpHandler, type HttpHandlerOptions, isUnmatched } from "./handler.js";
export { type FetchHandler, type RunningServer, type ServeOptions, serve, toNodeHandler } from "./node.js";
export {
  assertSameOrigin,
  CONTENT_SECURITY_POLICY,
  type CookieOptions,
  csrfToken,
  isCrossSite,
  readCookies,
  resolveSecret,
  securityHeaders,
  serializeCookie,
  sign,
  unsign,
  verifyCsrfToken,
} from "./security.js";
