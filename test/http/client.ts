/**
 * Requests to a fetch-style handler without a server. Tests authenticate with the `x-test-user`
 * header (`root` is an admin), and name a login with `x-test-session` — the host app's
 * `authenticate` hook, in its simplest form.
 */
export const ORIGIN = "http://app.test";

export function testAuthenticate(request: Request) {
  const user = request.headers.get("x-test-user");
  const session = request.headers.get("x-test-session") ?? undefined;
  return user ? { user, admin: user === "root", session } : null;
}

export interface Client {
  get(path: string, headers?: Record<string, string>): Promise<Response>;
  post(path: string, body?: unknown, headers?: Record<string, string>): Promise<Response>;
}

export function clientFor(handler: (request: Request) => Promise<Response>, user: string | null): Client {
  const base = (headers: Record<string, string> = {}) => ({
    ...(user ? { "x-test-user": user } : {}),
    ...headers,
  });
  return {
    get: (path, headers) => handler(new Request(`${ORIGIN}${path}`, { headers: base(headers) })),
    post: (path, body, headers) =>
      handler(
        new Request(`${ORIGIN}${path}`, {
          method: "POST",
          headers: base({ "content-type": "application/json", "sec-fetch-site": "same-origin", ...headers }),
          body: body === undefined ? undefined : JSON.stringify(body),
        }),
      ),
  };
}

export interface SseEvent {
  readonly id: number;
  readonly data: Record<string, any>;
}

/** Reads an event stream as it arrives; `until` waits for a condition on what came so far. */
export function readEvents(response: Response) {
  const events: SseEvent[] = [];
  const reader = response.body!.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  let ended = false;
  const pumping = (async () => {
    for (;;) {
      const { done, value } = await reader.read().catch(() => ({ done: true, value: undefined }));
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let end = buffer.indexOf("\n\n");
      while (end >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const id = /^id: (\d+)$/m.exec(block)?.[1];
        const data = /^data: (.*)$/m.exec(block)?.[1];
        if (id && data) events.push({ id: Number(id), data: JSON.parse(data) });
        end = buffer.indexOf("\n\n");
      }
    }
    ended = true;
  })();
  return {
    events,
    get ended() {
      return ended;
    },
    async close() {
      await reader.cancel().catch(() => {});
      await pumping;
    },
  };
}
