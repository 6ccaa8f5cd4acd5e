// taskledger dashboard: live updates over Server-Sent Events, local times, forms without reloads.
// No build step, no inline script (the pages' Content-Security-Policy forbids it). Text from
// the server is only ever set with textContent or taken from server-escaped HTML.
(() => {
  const body = document.body;
  const REFRESH_GAP_MS = 400;
  /** Each live region's children (and list items) as the server sent them: see morph(). */
  const served = new WeakMap();
  const signature = (el) =>
    el.outerHTML.replace(/ value="\d+"/g, "").replace(/(data-field="progress-label"[^>]*>)\d+%/g, "$1");

  // ---- times: shown in the reader's zone; "in 25 s" / "3 min ago" where asked -------------

  function relative(ms) {
    const seconds = Math.round(ms / 1000);
    const abs = Math.abs(seconds);
    let text;
    if (abs < 5 && seconds <= 0) return "just now";
    if (abs < 90) text = `${abs} s`;
    else if (abs < 90 * 60) text = `${Math.round(abs / 60)} min`;
    else if (abs < 36 * 3600) text = `${Math.round(abs / 3600)} h`;
    else return null;
    return seconds > 0 ? `in ${text}` : `${text} ago`;
  }

  function renderTimes(root) {
    for (const el of root.querySelectorAll("time[datetime]")) {
      const date = new Date(el.getAttribute("datetime"));
      if (Number.isNaN(date.getTime())) continue;
      const local = date.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "medium" });
      el.title = local;
      const mode = el.getAttribute("data-relative");
      const ms = date.getTime() - Date.now();
      // "until": a time being waited for (a retry) reads "now" once it has come.
      const rel = mode === null ? null : mode === "until" && ms < 1000 ? "now" : relative(ms);
      el.textContent = rel ?? local;
      if (mode !== null && !el.hasAttribute("aria-hidden")) {
        // A clock ticking inside a live region would be read out every second: screen readers
        // get the local time instead, once.
        el.setAttribute("aria-hidden", "true");
        const said = document.createElement("span");
        said.className = "sr-only";
        said.textContent = local;
        el.after(said);
      }
    }
  }

  labelTables(document);
  for (const region of document.querySelectorAll("[data-live-region]")) remember(region);
  renderTimes(document);
  setInterval(() => renderTimes(document), 1000);

  // ---- tables: on a phone each row is a card whose cells carry their column's name ----------

  function labelTables(root) {
    for (const table of root.querySelectorAll("table.table")) {
      const names = [...table.querySelectorAll("thead th")].map((th) => th.textContent.trim());
      // Cells shown as blocks lose their table semantics in some browsers: say them.
      table.setAttribute("role", "table");
      for (const group of table.querySelectorAll("thead, tbody")) group.setAttribute("role", "rowgroup");
      for (const row of table.querySelectorAll("tr")) row.setAttribute("role", "row");
      for (const th of table.querySelectorAll("thead th")) th.setAttribute("role", "columnheader");
      for (const row of table.querySelectorAll("tbody tr")) {
        [...row.children].forEach((cell, i) => {
          cell.setAttribute("role", "cell");
          if (names[i]) cell.dataset.label = names[i];
        });
      }
    }
  }

  // ---- forms: local date-times sent as UTC; cancel buttons without a page load -------------

  document.addEventListener("submit", (event) => {
    const form = event.target;
    if (!(form instanceof HTMLFormElement)) return;
    for (const input of form.querySelectorAll("input[data-utc]")) {
      const target = form.elements.namedItem(input.dataset.utc);
      if (target && input.value) {
        const date = new Date(input.value);
        target.value = Number.isNaN(date.getTime()) ? "" : date.toISOString();
      }
    }
    if (!form.hasAttribute("data-enhance")) return;
    event.preventDefault();
    const button = form.querySelector("button");
    if (button) button.disabled = true;
    fetch(form.action, {
      method: "POST",
      body: new URLSearchParams(new FormData(form)),
      headers: { accept: "application/json" },
      credentials: "same-origin",
    })
      .then((response) => response.json())
      .then((answer) => {
        const message = answer.message ?? {
          kind: "danger",
          text: sentence(answer.error?.message ?? "Something went wrong."),
        };
        showFlash(message.kind, message.text);
        refreshSoon();
      })
      .catch(() => showFlash("danger", "The server did not answer. Try again."))
      .finally(() => {
        if (button) button.disabled = false;
      });
  });

  /** The message of the last action: it replaces the one before, it does not pile up. */
  function showFlash(kind, ...content) {
    const box = document.querySelector("[data-flashes]");
    if (!box) return;
    const div = document.createElement("div");
    div.className = `flash flash-${kind === "success" ? "success" : kind === "info" ? "info" : "danger"}`;
    div.append(...content);
    box.replaceChildren(div);
  }

  function sentence(text) {
    const capital = text.charAt(0).toUpperCase() + text.slice(1);
    return /[.!?…]$/.test(capital) ? capital : `${capital}.`;
  }

  // ---- live regions: re-read this page and swap what changed --------------------------------

  let refreshing = false;
  let pending = false;
  let lastRefresh = 0;

  function refreshSoon() {
    if (!document.querySelector("[data-live-region]")) return;
    if (refreshing) {
      pending = true;
      return;
    }
    const wait = Math.max(0, lastRefresh + REFRESH_GAP_MS - Date.now());
    refreshing = true;
    setTimeout(refresh, wait);
  }

  function refresh() {
    pending = false;
    fetch(location.href, { headers: { accept: "text/html" }, credentials: "same-origin" })
      .then((response) =>
        response.ok ? response.text() : Promise.reject(new Error(String(response.status))),
      )
      .then((text) => {
        const next = new DOMParser().parseFromString(text, "text/html");
        labelTables(next);
        for (const region of document.querySelectorAll("[data-live-region][id]")) {
          const fresh = next.getElementById(region.id);
          if (fresh) morph(region, fresh);
        }
        renderTimes(document);
      })
      .catch(() => {})
      .finally(() => {
        lastRefresh = Date.now();
        refreshing = false;
        if (pending) refreshSoon();
      });
  }

  // A live region announces what changes in it: it stays in place, and of its children (and of
  // its lists' items) only those whose markup changed are replaced. `served` holds each one's
  // markup as the server sent it, before times were localized and bars moved.

  function remember(parent) {
    for (const child of parent.children) {
      served.set(child, signature(child));
      if (child.matches("ul, ol")) remember(child);
    }
  }

  function morph(current, fresh) {
    const old = [...current.children];
    const placed = new Set();
    let cursor = current.firstElementChild;
    for (const next of [...fresh.children]) {
      const key = signature(next);
      let node = old.find((el) => !placed.has(el) && served.get(el) === key);
      if (!node) {
        const list = old.find(
          (el) =>
            !placed.has(el) &&
            el.matches("ul, ol") &&
            el.tagName === next.tagName &&
            el.className === next.className,
        );
        if (list) {
          morph(list, next);
          served.set(list, key);
          node = list;
        } else {
          node = document.adoptNode(next);
          served.set(node, key);
          if (node.matches("ul, ol")) remember(node);
        }
      }
      placed.add(node);
      if (node === cursor) cursor = cursor.nextElementSibling;
      else current.insertBefore(node, cursor);
    }
    for (const el of old) if (!placed.has(el)) el.remove();
  }

  // ---- the event stream -----------------------------------------------------------------------

  const DESCRIBE = {
    task_reserve: () => "reserved",
    task_finished: () => "finished",
    task_failed: () => "failed",
    task_canceled: () => "canceled",
    task_retry: (data) => (data.released ? "requeued" : `attempt ${data.attempts} failed, will retry`),
    task_progress: (data) => `progress ${data.progress}%`,
  };

  function addToFeed(note) {
    const feed = document.querySelector("[data-feed]");
    if (!feed || feed.querySelector(`[data-note-id="${note.id}"]`)) return;
    // The 100 % recorded at every end is not news: the ending's own notification follows.
    const status = note.data?.status;
    if (note.name === "task_progress" && (status === "finished" || status === "canceled")) return;
    document.querySelector("[data-feed-empty]")?.remove();
    const li = document.createElement("li");
    li.className = "note is-new";
    li.dataset.noteId = String(note.id);
    const name = document.createElement("span");
    name.className = `note-name note-${note.name}`;
    name.textContent = (DESCRIBE[note.name] ?? (() => String(note.name).replaceAll("_", " ")))(
      note.data ?? {},
    );
    li.append(name);
    if (note.taskId !== null && note.taskId !== undefined) {
      const link = document.createElement("a");
      link.href = `${body.dataset.base ?? ""}/tasks/${encodeURIComponent(note.taskId)}`;
      link.textContent = `#${note.taskId}`;
      li.append(" ", link);
    }
    const when = document.createElement("time");
    when.setAttribute("datetime", note.createdAt);
    when.setAttribute("data-relative", "");
    li.append(" ", when);
    feed.prepend(li);
    while (feed.children.length > 30) feed.lastElementChild.remove();
    renderTimes(li);
  }

  /**
   * Move the bars of a running task shown on this page. False when the page must be read again:
   * the task is not shown, or its status changed (a reservation that starts moves to "In
   * progress"; an ended task shows how it ended, not the 100 % the ledger records at every end).
   */
  function applyProgress(note) {
    const nodes = document.querySelectorAll(`[data-task-id="${CSS.escape(String(note.taskId))}"]`);
    if (nodes.length === 0 || note.data?.status !== "running") return false;
    const progress = Number(note.data.progress);
    let moved = false;
    for (const node of nodes) {
      for (const bar of node.querySelectorAll('[data-field="progress"]')) bar.value = progress;
      for (const label of node.querySelectorAll('[data-field="progress-label"]'))
        label.textContent = `${progress}%`;
      if (node.dataset.status !== "running") {
        moved = true;
        node.dataset.status = "running";
        for (const badge of node.querySelectorAll('[data-field="status"]')) {
          badge.textContent = "running";
          badge.className = "badge status-running";
        }
        for (const wrap of node.querySelectorAll(".progress")) wrap.className = "progress status-running";
      }
    }
    return !moved;
  }

  function onNotification(note) {
    addToFeed(note);
    if (note.name !== "task_progress" || !applyProgress(note)) refreshSoon();
  }

  const url = body.dataset.events;
  if (!url || typeof EventSource === "undefined") return;
  const status = document.querySelector("[data-live-status]");
  const setStatus = (state, text) => {
    if (!status) return;
    status.classList.toggle("is-live", state === "live");
    status.classList.toggle("is-down", state === "down");
    status.textContent = text;
  };
  let lastId = body.dataset.after;
  let retryMs = 1000;

  // The browser reconnects by itself after a dropped connection; an answer that is not a stream
  // (the session is gone after a restart, a proxy's 502 while the server comes back) ends the
  // source for good. Then ask whether the session lives: if not, say so; else connect again.
  function connect() {
    const source = new EventSource(lastId ? `${url}?after=${encodeURIComponent(lastId)}` : url);
    source.onopen = () => {
      retryMs = 1000;
      setStatus("live", "live");
    };
    source.onerror = () => {
      setStatus("wait", "reconnecting");
      if (source.readyState !== EventSource.CLOSED) return;
      source.close();
      fetch(url.replace(/\/events$/, "/notifications?limit=1"), {
        headers: { accept: "application/json" },
        credentials: "same-origin",
      })
        .then((response) => (response.status === 401 ? sessionExpired() : reconnectLater()))
        .catch(reconnectLater);
    };
    source.onmessage = (event) => {
      if (event.lastEventId) lastId = event.lastEventId;
      try {
        onNotification(JSON.parse(event.data));
      } catch {
        // a malformed event is skipped; the next refresh shows the truth
      }
    };
  }

  function reconnectLater() {
    setTimeout(connect, retryMs);
    retryMs = Math.min(retryMs * 2, 30_000);
  }

  function sessionExpired() {
    setStatus("down", "logged out");
    const again = document.createElement("a");
    const here = location.pathname + location.search;
    again.href = body.dataset.login ? `${body.dataset.login}?next=${encodeURIComponent(here)}` : here;
    again.textContent = "log in again";
    showFlash("danger", "Session expired — ", again, ".");
  }

  connect();
})();
