import { readCookies, serializeCookie, sign, unsign } from "../http/security.js";

/** One-time messages shown on the next page (the seeds' `flash(message, category)`), in a signed cookie. */
export interface FlashMessage {
  readonly kind: "success" | "danger" | "info";
  readonly text: string;
}

const COOKIE = "tl_flash";
const PURPOSE = "flash";

export function flashCookie(secret: string, messages: readonly FlashMessage[]): string {
  const value = Buffer.from(JSON.stringify(messages.slice(0, 5))).toString("base64url");
  return serializeCookie(COOKIE, sign(secret, PURPOSE, value), { maxAgeSeconds: 120 });
}

export const clearFlashCookie = (): string => serializeCookie(COOKIE, "", { maxAgeSeconds: 0 });

/** The messages waiting for this request (empty when none or tampered with). */
export function readFlash(request: Request, secret: string): FlashMessage[] {
  const value = unsign(secret, PURPOSE, readCookies(request).get(COOKIE));
  if (!value) return [];
  try {
    const parsed = JSON.parse(Buffer.from(value, "base64url").toString("utf8")) as unknown;
    if (!Array.isArray(parsed)) return [];
    return parsed
      .filter(
        (m): m is FlashMessage =>
          typeof m?.text === "string" && ["success", "danger", "info"].includes(m?.kind),
      )
      .map((m) => ({ kind: m.kind, text: m.text }));
  } catch {
    return [];
  }
}
