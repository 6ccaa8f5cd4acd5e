import type { PendingRetry } from "../../core/task-log.js";
import type { Task } from "../../core/types.js";
import type { Taskledger } from "../../taskledger.js";
import { inFeed, notificationItem, type PageContext, section, taskList } from "../components.js";
import { html, type SafeHtml } from "../html.js";

export interface Rendered {
  readonly body: SafeHtml;
  /** The newest notification id before the page was read: live updates start after it. */
  readonly lastEventId: number;
}

/** The seeds' three lists for one user — in progress, reserved (soonest first), last finished — and their notifications. */
export async function renderTaskCenter(tl: Taskledger, ctx: PageContext, owner: string): Promise<Rendered> {
  const lastEventId = await tl.notifications.lastId();
  const [inProgress, reserved, finished, notes] = await Promise.all([
    tl.tasks.inProgress(owner, 50),
    tl.tasks.reserved(owner, 50),
    tl.tasks.recent(owner, 5, { canceled: true }),
    tl.notifications.latest(owner, 20),
  ]);
  const feed = notes.filter(inFeed).slice(0, 10);
  const retries = await pendingRetries(tl, inProgress);
  const body = html`<div class="center">
    ${section(
      "in-progress",
      "In progress",
      taskList(ctx, inProgress, "Nothing running. Start a task and watch it here.", { retries }),
      {
        count: inProgress.length,
      },
    )}
    ${section("reserved", "Reserved", taskList(ctx, reserved, "No reservations."), { count: reserved.length })}
    ${section("finished", "Last finished", taskList(ctx, finished, "Nothing finished yet."))}
    ${section(
      "notifications",
      "Notifications",
      feed.length === 0
        ? html`<p class="empty" data-feed-empty>No notifications yet.</p><ul class="feed" data-feed></ul>`
        : html`<ul class="feed" data-feed>${feed.map((n) => notificationItem(ctx, n))}</ul>`,
      { live: false },
    )}
  </div>`;
  return { body, lastEventId };
}

/** The retries the listed tasks wait for, by task id (a read only for queued tasks past an attempt). */
export async function pendingRetries(
  tl: Taskledger,
  tasks: readonly Task[],
): Promise<Map<number, PendingRetry>> {
  const found = await Promise.all(
    tasks.map(async (task) => [task.id, await tl.tasks.pendingRetry(task)] as const),
  );
  return new Map(found.filter((entry): entry is [number, PendingRetry] => entry[1] !== null));
}
