import { randomBytes } from "node:crypto";
import { EventEmitter } from "node:events";
import { TaskledgerError } from "../../core/errors.js";
import type { Delivery, Engine, TakeRequest, Tx } from "../../engine/contract.js";
import { type Driver, type Job, loadDriver, type Queue, type RedisClient, type Worker } from "./driver.js";
import { aheadOrder, bullmqQueueName, deliveryOf, jobIdOf, jobOf, parseCancel, pickAhead } from "./shared.js";

export { jobIdOf, toBullmqPriority } from "./shared.js";

export interface BullmqEngineOptions {
  /** `redis://[user:password@]host:port[/db]` (or `rediss://`). */
  readonly url: string;
  /** The first part of every key and channel: queue `q` is BullMQ's queue `q` under `{prefix}:`. Default `taskledger`. */
  readonly prefix?: string;
  /**
   * The longest a Redis call may hold its caller, ms (default 2 000): an enqueue whose delivery
   * cannot reach Redis in time returns its recorded task; the delivery follows when Redis is back.
   */
  readonly timeoutMs?: number;
  /** BullMQ's lock on a fetched job until the round that took it commits, ms. Default 30 000. */
  readonly lockMs?: number;
}

/** BullMQ orders delayed jobs by `timestamp * 0x1000 + n` (getDelayedScore.lua). */
const DELAYED_SCORE_UNIT = 0x1000;
/** The longest a round's take may hold the ledger transaction waiting for Redis, ms. */
const TAKE_TIMEOUT_MS = 500;
/** How long jobs fetched ahead wait for this worker's next round before they go back to Redis, ms. */
const AHEAD_HOLD_MS = 250;
/** Undelivered deliveries kept for a retry when Redis is back; beyond this the relay has them. */
const MAX_PENDING = 100_000;

/**
 * The engine on BullMQ and Redis, with the ledger on any database. One BullMQ queue per
 * taskledger queue; a delivery is a job `t{id}-{attempt}` whose data says which attempt (no
 * payload: that is the ledger's). Jobs are added after the ledger commits (`after-commit`), so a
 * crash in between, or a Redis that lost its data, is made good by the relay (the ledger's waiting
 * rows, delivered again; a job id that exists is kept).
 *
 * A worker's round takes jobs without blocking (it holds the ledger's transaction meanwhile) and
 * completes them once the round commits (`taken`): the ledger's start decides, and from then on
 * the ledger's lease, not BullMQ, says whether the attempt is alive. BullMQ's lock and stall check
 * cover only the moment between the fetch and the commit. Idle workers wake on a pub/sub message
 * sent after each delivery; cancel signals travel on another channel.
 *
 * `createTaskledger` runs it on a thread of its own (threaded.ts); `hooks` report the jobs it
 * fetches ahead there.
 */
export function createBullmqEngine(options: BullmqEngineOptions, hooks?: AheadHooks): BullmqEngine {
  const prefix = options.prefix ?? "taskledger";
  const timeoutMs = options.timeoutMs ?? 2_000;
  const lockMs = options.lockMs ?? 30_000;
  const where = redisLocation(options.url);
  /** This engine's BullMQ worker token, and the sender id of its signals. */
  const token = `taskledger-${randomBytes(6).toString("hex")}`;
  const channels = { cancel: `${prefix}:cancel`, delivered: `${prefix}:delivered` };

  let opened: Promise<{ driver: Driver; client: RedisClient; consuming: RedisClient }> | undefined;
  let subscriber: RedisClient | undefined;
  /** Redis answered once: from then on a lost connection is an outage, not a start. */
  let reached = false;
  let closed = false;
  const queues = new Map<string, Queue>();
  const consumers = new Map<string, Worker>();
  /** Jobs taken by a round whose commit has not been reported yet. */
  const held = new Map<string, { job: Job; name: string; at: number }>();
  /** Completions of taken jobs under way. */
  const completions = new Set<Promise<unknown>>();
  /**
   * Jobs fetched for this worker's coming rounds, in fetch order (`complete`, `topUp`), and the
   * fetches under way that add to them (`coming`: how many jobs they may bring).
   */
  const ahead = {
    jobs: [] as Ahead[],
    fetching: new Set<Promise<void>>(),
    coming: 0,
    timer: undefined as NodeJS.Timeout | undefined,
    /** When a round last took from them. */
    usedAt: 0,
  };
  /** The last round took all it asked for and its worker's slots turn over quickly: its size, else 0. */
  let aheadDepth = 0;
  /** Deliveries Redis did not take (it was unreachable): sent again when it is back. */
  const pending = new Map<string, Delivery>();
  const signals = new EventEmitter();
  signals.setMaxListeners(0);

  /** Redis unreachable: said once per outage, and again once it is over. */
  let outage: string | undefined;
  /** Outages this engine came back from: deliveries made meanwhile by processes that died are gone. */
  let outages = 0;
  const log = (message: string) => console.error(`taskledger bullmq engine (${where}): ${message}`);
  function unreachable(error: unknown): void {
    if (outage !== undefined || closed) return;
    outage = String((error as Error)?.message ?? error);
    log(
      `Redis is unreachable (${outage}). Tasks are recorded in the ledger and delivered when it is back ` +
        "(by this process, and by every worker's relay); workers take nothing from Redis meanwhile.",
    );
  }

  function open() {
    opened ??= (async () => {
      const driver = await loadDriver();
      // Fail fast while Redis is away: the ledger has every delivery, and callers must not hang.
      const failFast = {
        enableOfflineQueue: false,
        commandTimeout: timeoutMs,
        connectTimeout: timeoutMs,
        retryStrategy: (times: number) => Math.min(times * 100, 1_000),
      };
      const client = new driver.Redis(options.url, { ...failFast, maxRetriesPerRequest: 1 });
      client.on("error", unreachable);
      client.on("ready", () => {
        reached = true;
        void reconnected();
      });
      // BullMQ's workers insist on maxRetriesPerRequest: null; they never block here.
      const consuming = new driver.Redis(options.url, { ...failFast, maxRetriesPerRequest: null });
      consuming.on("error", unreachable);
      // Takes failed while this connection was down (each connection comes back on its own schedule).
      wakeOnReturn(consuming);
      return { driver, client, consuming };
    })();
    return opened;
  }

  /** A job that is not a taskledger job: nothing can start from it. */
  function dropForeign(job: Job): void {
    void job.moveToCompleted(null, token, false).catch(() => {});
  }

  /** Once `connection` is back after a loss, idle workers take what they may have missed meanwhile. */
  function wakeOnReturn(connection: RedisClient): void {
    let ready = false;
    connection.on("ready", () => {
      if (ready) signals.emit("delivered");
      ready = true;
    });
  }

  /**
   * The client, connected. The first connection is waited for (at most `timeoutMs`); once Redis
   * has been reached, a lost connection fails at once: the caller must not wait through an outage.
   */
  async function connected(): Promise<RedisClient> {
    if (closed) throw new TaskledgerError("closed", "the bullmq engine is closed");
    const { client } = await open();
    if (client.status === "ready") return client;
    if (reached)
      throw new TaskledgerError("unavailable", `Redis at ${where} is not connected (${client.status})`);
    await within(
      new Promise<void>((resolve) => client.once("ready", resolve)),
      `connecting to Redis at ${where}`,
    );
    return client;
  }

  async function reconnected(): Promise<void> {
    if (outage === undefined) return;
    const backlog = [...pending.values()];
    pending.clear();
    outage = undefined;
    outages++;
    if (backlog.length > 0) await deliver(backlog);
    log(
      `Redis is reachable again${backlog.length > 0 ? `; ${backlog.length} delivery(ies) held back meanwhile were sent` : ""}.`,
    );
    signals.emit("delivered");
  }

  function within<T>(work: Promise<T>, what: string, ms = timeoutMs): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new TaskledgerError("unavailable", `${what} took longer than ${ms} ms`)),
        ms,
      );
    });
    return Promise.race([work, late]).finally(() => clearTimeout(timer));
  }

  async function queueOf(name: string): Promise<Queue> {
    const { driver } = await open();
    let queue = queues.get(name);
    if (!queue) {
      queue = new driver.Queue(bullmqQueueName(name), { connection: (await open()).client, prefix });
      queue.on("error", unreachable);
      queues.set(name, queue);
      forgetIfBroken(queues, name, queue);
    }
    return queue;
  }

  /**
   * BullMQ sets a queue's or worker's connection up once (it reads the server's version) and
   * keeps the failure when Redis was away at that moment: every later call fails with it. Such
   * an object is closed and forgotten; the next call makes a new one.
   */
  function forgetIfBroken<T extends Queue | Worker>(made: Map<string, T>, name: string, item: T): void {
    item.waitUntilReady().catch(() => {
      if (made.get(name) === item) made.delete(name);
      void item.close().catch(() => {});
    });
  }

  async function consumerOf(name: string): Promise<Worker> {
    const { driver, consuming } = await open();
    let consumer = consumers.get(name);
    if (!consumer) {
      consumer = new driver.Worker(bullmqQueueName(name), null, {
        connection: consuming,
        prefix,
        autorun: false,
        lockDuration: lockMs,
        stalledInterval: lockMs,
        // A stalled job only means a process died between fetching it and its round's commit:
        // it goes back to waiting however often that happens (the ledger counts attempts).
        maxStalledCount: Number.MAX_SAFE_INTEGER,
      });
      consumer.on("error", unreachable);
      consumers.set(name, consumer);
      forgetIfBroken(consumers, name, consumer);
      void consumer.startStalledCheckTimer().catch(unreachable);
    }
    return consumer;
  }

  async function carry(deliveries: readonly Delivery[]): Promise<void> {
    const client = await connected();
    const now = Date.now();
    const byQueue = new Map<string, Delivery[]>();
    for (const d of deliveries) {
      const list = byQueue.get(d.queue);
      if (list) list.push(d);
      else byQueue.set(d.queue, [d]);
    }
    await Promise.all(
      [...byQueue].map(async ([name, list]) => {
        const queue = await queueOf(name);
        await queue.addBulk(list.map((d) => jobOf(d, now)));
      }),
    );
    // Idle workers in every process take what just arrived.
    await client.publish(channels.delivered, "");
  }

  async function deliver(deliveries: readonly Delivery[]): Promise<void> {
    if (deliveries.length === 0) return;
    try {
      await within(carry(deliveries), `delivering ${deliveries.length} task(s) to Redis at ${where}`);
    } catch (error) {
      if (closed) throw error;
      if (error instanceof TaskledgerError && error.code !== "unavailable") throw error;
      unreachable(error);
      for (const d of deliveries) if (pending.size < MAX_PENDING) pending.set(jobIdOf(d), d);
    }
  }

  /** Jobs of `name` due by the caller's clock that BullMQ (on this host's clock) holds as delayed. */
  async function promoteDue(name: string, now: number, limit: number): Promise<void> {
    const client = await connected();
    const ids = await client.zrangebyscore(
      `${prefix}:${bullmqQueueName(name)}:delayed`,
      0,
      (now + 1) * DELAYED_SCORE_UNIT - 1,
      "LIMIT",
      0,
      limit,
    );
    if (ids.length === 0) return;
    const { driver } = await open();
    const queue = await queueOf(name);
    await Promise.all(
      ids.map(async (id) => {
        const job = await driver.Job.fromId(queue, id);
        await job?.promote().catch(() => {}); // promoted meanwhile
      }),
    );
  }

  /**
   * Commands issued together (a round's fetches, its completions) leave in one write: the
   * consuming connection's socket is corked until the event loop's next turn.
   */
  async function together<T>(work: () => Promise<T>): Promise<T> {
    const stream = (await open()).consuming.stream;
    if (!stream) return work();
    stream.cork();
    setImmediate(() => stream.uncork());
    return work();
  }

  /** Fetch up to `want` jobs of one queue: one call to learn whether any waits, then the rest at once. */
  async function fetch(name: string, want: number): Promise<Job[]> {
    const consumer = await consumerOf(name);
    const first = await consumer.getNextJob(token, { block: false });
    if (!first) return [];
    if (want === 1) return [first];
    const rest = await together(() =>
      Promise.all(Array.from({ length: want - 1 }, () => consumer.getNextJob(token, { block: false }))),
    );
    return [first, ...rest.filter((job): job is Job => job !== undefined)];
  }

  /**
   * Hand a fetched job to a round (`taken`), or deal with one that cannot start from it. A job
   * fetched after its round stopped waiting (`over`: Redis answered too late) goes back to waiting.
   */
  function accept(
    job: Job,
    name: string,
    now: number,
    taken: Taken,
    delivery = deliveryOf(job.data, job.priority, name),
  ): void {
    if (taken.over) {
      void handBack([{ job }]);
      return;
    }
    if (!delivery) {
      dropForeign(job);
    } else if (delivery.runAt > now) {
      // Due by this host's clock, not yet by the caller's (clocks apart): back until its time.
      void job.moveToDelayed(delivery.runAt, token).catch(() => {});
    } else {
      held.set(jobIdOf(delivery), { job, name, at: Date.now() });
      taken.push(delivery);
    }
  }

  /**
   * Jobs fetched ahead that a round took elsewhere (`hooks`: on another thread, from the
   * deliveries `fetched` reported): held for it from now on. One handed back meanwhile is not:
   * Redis delivers it again, and the fenced start lets only one of the two start.
   */
  function claim(jobIds: readonly string[], now: number, taken: Taken): void {
    ahead.usedAt = Date.now();
    if (jobIds.length === 0) return;
    const wanted = new Set(jobIds);
    const claimed = ahead.jobs.filter((a) => wanted.has(jobIdOf(a.delivery)));
    leaveAhead(claimed);
    for (const a of claimed) accept(a.job, a.name, now, taken, a.delivery);
  }

  /** These jobs are no longer among those fetched ahead. */
  function leaveAhead(leaving: readonly Ahead[]): void {
    if (leaving.length === 0) return;
    const set = new Set(leaving);
    ahead.jobs = ahead.jobs.filter((a) => !set.has(a));
    if (ahead.jobs.length === 0) clearTimeout(ahead.timer);
  }

  /** Jobs fetched ahead leave them other than by a claim (a take here, back to Redis): the hooks hear it. */
  function unahead(used: readonly Ahead[]): void {
    leaveAhead(used);
    if (used.length > 0) hooks?.gone(used.map((a) => jobIdOf(a.delivery)));
  }

  async function take(queuesInOrder: readonly string[], limit: number, now: number, taken: Taken) {
    // A round that never reported its commit (it failed) left its jobs to BullMQ's stall check.
    for (const [id, h] of held) if (h.at < Date.now() - lockMs) held.delete(id);
    // What was fetched ahead comes first: a round need not wait for Redis.
    ahead.usedAt = Date.now();
    if (ahead.jobs.length < limit - taken.length && ahead.fetching.size > 0)
      await Promise.all(ahead.fetching);
    if (ahead.jobs.length > 0 && taken.length < limit) {
      const used = pickAhead(ahead.jobs, (a) => a.delivery, queuesInOrder, limit - taken.length);
      unahead(used);
      for (const a of used) accept(a.job, a.name, now, taken, a.delivery);
    }
    for (const name of queuesInOrder) {
      const want = limit - taken.length;
      if (want <= 0 || taken.over) break;
      if (now > Date.now()) await promoteDue(name, now, want);
      for (const job of await fetch(name, want)) accept(job, name, now, taken);
    }
  }

  /**
   * Jobs fetched for the coming rounds join `ahead`; held for a worker that stopped taking
   * (its slots stayed busy), they go back to waiting within AHEAD_HOLD_MS.
   */
  function fetchAhead(work: Promise<{ job: Job; name: string }[]>, count: number): Promise<void> {
    ahead.coming += count;
    const fetching: Promise<void> = work
      .then(async (got) => {
        if (closed) return handBack(got);
        const joined: Ahead[] = [];
        for (const { job, name } of got) {
          const delivery = deliveryOf(job.data, job.priority, name);
          if (!delivery) dropForeign(job);
          else joined.push({ job, name, delivery });
        }
        if (joined.length === 0) return;
        ahead.jobs.push(...joined);
        hooks?.fetched(joined.map((a) => a.delivery));
        if (!ahead.timer) holdAhead(AHEAD_HOLD_MS);
      })
      .catch(unreachable)
      .finally(() => {
        ahead.coming -= count;
        ahead.fetching.delete(fetching);
      });
    ahead.fetching.add(fetching);
    return fetching;
  }

  function holdAhead(ms: number): void {
    ahead.timer = setTimeout(() => {
      ahead.timer = undefined;
      if (ahead.jobs.length === 0) return;
      const idle = Date.now() - ahead.usedAt;
      if (idle < AHEAD_HOLD_MS) return holdAhead(AHEAD_HOLD_MS - idle);
      aheadDepth = 0;
      const jobs = ahead.jobs.slice();
      unahead(jobs);
      void handBack(jobs);
    }, ms);
    ahead.timer.unref();
  }

  /**
   * A round took `count` deliveries. Work is waiting and the worker's slots turn over quickly: a
   * round's worth of jobs is kept fetched ahead (the completions of this round's jobs fetch the
   * one after).
   */
  function keepAhead(request: TakeRequest, count: number): void {
    aheadDepth = request.ahead === true && count === request.limit ? request.limit : 0;
    if (aheadDepth > 0) topUp(request.queues);
  }

  /** Keep a round's worth of jobs fetched ahead: the next round then finds them here at once. */
  function topUp(queuesInOrder: readonly string[]): void {
    const want = aheadDepth - ahead.jobs.length - ahead.coming;
    if (want <= 0 || closed) return;
    void fetchAhead(
      (async () => {
        const got: { job: Job; name: string }[] = [];
        for (const name of queuesInOrder) {
          if (got.length >= want) break;
          for (const job of await fetch(name, want - got.length)) got.push({ job, name });
        }
        return got;
      })(),
      want,
    );
  }

  /**
   * Complete a committed round's jobs. While rounds come back full (work is waiting), each
   * completion also takes its queue's next job in the same call, as BullMQ's own worker does, for
   * the round after next: with the round's worth kept ahead (`topUp`), the next round finds its
   * jobs here instead of waiting for Redis. What is fetched ahead stays locked to this process: it
   * goes back to waiting when no round takes from it for AHEAD_HOLD_MS (this worker's slots stayed
   * busy), and at close.
   */
  function complete(jobs: readonly { job: Job; name: string }[]): Promise<unknown> {
    const fetchNext = aheadDepth > 0 && !closed && ahead.jobs.length + ahead.coming < 2 * aheadDepth;
    const got: { job: Job; name: string }[] = [];
    const completing = together(() =>
      Promise.all(
        jobs.map(async ({ job, name }) => {
          // Lost locks (a round slower than lockMs) are harmless: the job returns and is refused.
          const next = await job.moveToCompleted(null, token, fetchNext).catch(() => undefined);
          if (!Array.isArray(next) || !next[0]) return;
          const consumer = consumers.get(name);
          const fetched = await consumer?.nextJobFromJobData(next[0], next[1], token);
          if (fetched) got.push({ job: fetched, name });
        }),
      ),
    );
    return fetchNext
      ? fetchAhead(
          completing.then(() => got),
          jobs.length,
        )
      : completing;
  }

  /** Jobs this process holds that no round will start (fetched ahead, or a failed round's): back to waiting, for any process. */
  async function handBack(jobs: readonly { job: Job }[]): Promise<void> {
    if (jobs.length === 0) return;
    await within(
      Promise.all(jobs.map((a) => a.job.moveToWait(token).catch(() => {}))),
      `handing ${jobs.length} job(s) back to Redis at ${where}`,
    ).catch(unreachable);
  }

  function subscribe(event: "cancel" | "delivered", listener: (...args: any[]) => void): () => void {
    signals.on(event, listener);
    if (!subscriber && !closed) {
      void open()
        .then(({ driver }) => {
          if (subscriber || closed) return;
          // Its own connection (a subscribed one can do nothing else); ioredis subscribes again
          // after a reconnect, and a wake then lets workers read what they may have missed.
          const sub = new driver.Redis(options.url, {
            maxRetriesPerRequest: null,
            retryStrategy: (times) => Math.min(times * 100, 1_000),
          });
          subscriber = sub;
          sub.on("error", unreachable);
          wakeOnReturn(sub);
          sub.on("message", (channel: string, message: string) => {
            if (channel === channels.delivered) signals.emit("delivered");
            else if (channel === channels.cancel) {
              const signal = parseCancel(message);
              if (signal && signal.from !== token) signals.emit("cancel", signal.ids);
            }
          });
          return sub.subscribe(channels.cancel, channels.delivered);
        })
        .catch(unreachable);
    }
    return () => signals.off(event, listener);
  }

  /** The jobs this process holds for these deliveries, no longer held. */
  const release = (deliveries: readonly Delivery[]): { job: Job; name: string }[] => {
    const jobs: { job: Job; name: string }[] = [];
    for (const d of deliveries) {
      const h = held.get(jobIdOf(d));
      if (!h) continue;
      held.delete(jobIdOf(d));
      jobs.push(h);
    }
    return jobs;
  };

  return {
    name: "bullmq",
    delivery: "after-commit",

    async migrate() {
      const client = await connected();
      const memory = await within(client.info("memory"), `reading Redis's settings at ${where}`);
      const policy = /^maxmemory_policy:(\S+)/m.exec(memory)?.[1];
      if (policy !== undefined && policy !== "noeviction") {
        throw new TaskledgerError(
          "unavailable",
          `Redis at ${where} has maxmemory-policy ${policy}: under memory pressure it would drop queued jobs ` +
            "without a word. Set it to noeviction: redis-cli CONFIG SET maxmemory-policy noeviction " +
            "(and `maxmemory-policy noeviction` in redis.conf), or give taskledger a Redis of its own.",
          { field: "redis" },
        );
      }
    },

    deliver(deliveries) {
      return deliver(deliveries);
    },

    async redeliver(deliveries) {
      if (deliveries.length === 0) return;
      // Most are there, waiting: asking (one EXISTS each, in one pipeline) costs Redis and this
      // process far less than adding a job that exists (BullMQ's addJob script, which keeps it).
      const client = await connected();
      const pipeline = client.pipeline();
      for (const d of deliveries) pipeline.exists(`${prefix}:${bullmqQueueName(d.queue)}:${jobIdOf(d)}`);
      const found = await within(
        pipeline.exec(),
        `looking up ${deliveries.length} delivery(ies) in Redis at ${where}`,
      );
      await deliver(deliveries.filter((_, i) => found?.[i]?.[1] !== 1));
    },

    async generation() {
      // A restarted Redis has a new run_id (and, without persistence, none of its jobs).
      const client = await connected();
      const server = await within(client.info("server"), `reading Redis's run_id at ${where}`);
      return `${/^run_id:(\S+)/m.exec(server)?.[1] ?? "?"}/${outages}`;
    },

    async withdraw(withdrawn) {
      if (withdrawn.length === 0) return;
      try {
        await within(
          Promise.all(
            withdrawn.map(async (w) => {
              // A job already taken is locked and stays: the fenced start refuses a canceled task.
              await (await queueOf(w.queue)).remove(jobIdOf(w));
            }),
          ),
          `withdrawing ${withdrawn.length} task(s) from Redis at ${where}`,
        );
      } catch (error) {
        // Harmless when it fails: the fenced start refuses the canceled task and its job is dropped.
        unreachable(error);
      }
    },

    async take(request, _tx, claimed = []) {
      const taken: Taken = Object.assign([], { over: false });
      claim(claimed, request.now, taken);
      try {
        // The round holds the ledger's write lock meanwhile: never wait long for Redis here.
        await within(
          take(request.queues, request.limit, request.now, taken),
          `taking jobs from Redis at ${where}`,
          TAKE_TIMEOUT_MS,
        );
      } catch (error) {
        // The round goes on without Redis (it writes outcomes); what was fetched in time is taken.
        unreachable(error);
      }
      taken.over = true;
      keepAhead(request, taken.length);
      // Claimed, fetched ahead and fetched now: one round, in the ledger's order.
      return [...taken].sort(aheadOrder(request.queues));
    },

    claim(request, jobIds) {
      const taken: Taken = Object.assign([], { over: false });
      claim(jobIds, request.now, taken);
      keepAhead(request, jobIds.length);
    },

    async taken(deliveries) {
      const jobs = release(deliveries);
      if (jobs.length === 0) return;
      // The worker's next round need not wait for this: the ledger has decided (close() waits).
      const completing = within(complete(jobs), `completing ${jobs.length} job(s) in Redis at ${where}`)
        .catch(unreachable)
        .finally(() => completions.delete(completing));
      completions.add(completing);
    },

    async untaken(deliveries) {
      // Back to waiting for the next round (any process's); a lock lost meanwhile is BullMQ's stall check's.
      await handBack(release(deliveries));
    },

    async nextDue(names) {
      try {
        const client = await connected();
        const firsts = await within(
          Promise.all(
            names.map((name) =>
              client.zrange(`${prefix}:${bullmqQueueName(name)}:delayed`, 0, 0, "WITHSCORES"),
            ),
          ),
          `reading delayed jobs in Redis at ${where}`,
        );
        let next: number | null = null;
        for (const [, score] of firsts) {
          if (score === undefined) continue;
          const at = Math.floor(Number(score) / DELAYED_SCORE_UNIT);
          if (next === null || at < next) next = at;
        }
        return next;
      } catch (error) {
        unreachable(error);
        return null; // the worker's poll tries again
      }
    },

    signalCancel(ids) {
      if (ids.length === 0) return;
      signals.emit("cancel", ids);
      void connected()
        .then((client) => client.publish(channels.cancel, JSON.stringify({ from: token, ids })))
        .catch(unreachable);
    },

    onCancel(listener) {
      return subscribe("cancel", listener);
    },

    onDelivered(listener) {
      return subscribe("delivered", listener);
    },

    async close() {
      if (closed) return;
      closed = true;
      signals.removeAllListeners();
      if (!opened) return;
      const { client, consuming } = await opened.catch(() => ({ client: undefined, consuming: undefined }));
      const settle = (work: Promise<unknown>) => within(work, "closing").catch(() => {});
      clearTimeout(ahead.timer);
      await settle(Promise.all(ahead.fetching));
      await handBack(ahead.jobs.splice(0));
      await settle(Promise.all(completions));
      await Promise.all([...consumers.values()].map((c) => settle(c.close(true))));
      await Promise.all([...queues.values()].map((q) => settle(q.close())));
      for (const c of [client, consuming, subscriber]) {
        if (!c) continue;
        if (c.status === "ready") await settle(c.quit());
        c.disconnect();
      }
      consumers.clear();
      queues.clear();
      held.clear();
    },
  };
}

/** What a round's take got so far; `over` once the round has stopped waiting for it. */
type Taken = Delivery[] & { over: boolean };

/** A job fetched ahead, for this worker's coming rounds. */
interface Ahead {
  readonly job: Job;
  readonly name: string;
  readonly delivery: Delivery;
}

/** Hear the jobs fetched ahead come and go, to take them on another thread (threaded.ts). */
export interface AheadHooks {
  /** These deliveries joined the jobs fetched ahead. */
  fetched(deliveries: readonly Delivery[]): void;
  /** These jobs (ids) left them other than by a claim: a take here used them, or they went back. */
  gone(jobIds: readonly string[]): void;
}

/** The bullmq engine; a round may also take jobs fetched ahead by their ids (`hooks`). */
export interface BullmqEngine extends Engine {
  /** A round's take: the jobs fetched ahead `claimed` first, then what else it may take. */
  take(request: TakeRequest, tx?: Tx, claimed?: readonly string[]): Promise<Delivery[]>;
  /** A round took these jobs fetched ahead (all it asked for) without a take here. */
  claim(request: TakeRequest, jobIds: readonly string[]): void;
}

/** host:port of a Redis URL, without credentials, for messages. */
export function redisLocation(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.hostname}:${parsed.port || "6379"}${parsed.pathname.length > 1 ? parsed.pathname : ""}`;
  } catch {
    return "(an invalid Redis URL)";
  }
}
