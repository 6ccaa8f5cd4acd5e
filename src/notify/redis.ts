import { loadDriver, type RedisClient } from "../engines/bullmq/driver.js";
import type { Channel } from "./channel.js";

/**
 * Redis pub/sub on `{prefix}:changed`, for a ledger without a channel of its own (MySQL) when
 * the bullmq engine's Redis is configured. Two connections of its own: a subscribed one can do
 * nothing else. ioredis reconnects and subscribes again by itself; listeners then read again.
 */
export function createRedisChannel(options: { readonly url: string; readonly prefix?: string }): Channel {
  const name = `${options.prefix ?? "taskledger"}:changed`;
  const clients: RedisClient[] = [];
  let publisher: Promise<RedisClient> | undefined;
  let closed = false;

  const open = async () => {
    const driver = await loadDriver();
    const client = new driver.Redis(options.url, {
      maxRetriesPerRequest: null,
      retryStrategy: (times) => Math.min(times * 100, 2_000),
    });
    client.on("error", () => {}); // ioredis retries; an announcement waits in its queue meanwhile
    clients.push(client);
    if (closed) client.disconnect();
    return client;
  };

  return {
    async send(sender) {
      publisher ??= open();
      await (await publisher).publish(name, sender);
    },
    listen(heard) {
      void open()
        .then(async (subscriber) => {
          let subscribed = false;
          subscriber.on("ready", () => {
            if (subscribed) heard(undefined);
          });
          subscriber.on("message", (channel: string, message: string) => {
            if (channel === name) heard(message);
          });
          await subscriber.subscribe(name);
          subscribed = true;
          heard(undefined);
        })
        .catch(() => {});
    },
    async close() {
      closed = true;
      for (const client of clients) client.disconnect();
    },
  };
}
