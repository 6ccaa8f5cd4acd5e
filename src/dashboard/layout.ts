import { csrfField, type PageContext } from "./components.js";
import type { FlashMessage } from "./flash.js";
import { html, type SafeHtml } from "./html.js";

export interface NavLink {
  readonly href: string;
  readonly label: string;
  /** Shown to admins only. */
  readonly admin?: boolean;
}

export interface LayoutOptions {
  readonly title: string;
  readonly body: SafeHtml;
  readonly flash?: readonly FlashMessage[];
  /** Live updates for this page: the id of the last notification it shows. */
  readonly lastEventId?: number;
}

export interface Chrome {
  /** The product name in the top bar. */
  readonly brand: string;
  /** Where the brand links to. */
  readonly home: string;
  readonly nav: readonly NavLink[];
  /** A POST form to log out, when the host app has one. */
  readonly logoutPath: string | undefined;
  /** Where to log in again when the session has ended, when the host app has a login page. */
  readonly loginPath: string | undefined;
  /** Where the dashboard's CSS and script are served. */
  readonly assets: string;
}

/** The page shell: top bar, flash messages, content; the script connects to the event stream. */
export function layout(ctx: PageContext, chrome: Chrome, options: LayoutOptions): SafeHtml {
  const user = ctx.principal;
  const live = user && options.lastEventId !== undefined;
  const current = ctx.here.split("?")[0];
  const links = chrome.nav.filter((link) => !link.admin || user?.admin);
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${options.title} · ${chrome.brand}</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="${chrome.assets}/dashboard.css">
<script src="${chrome.assets}/dashboard.js" defer></script>
</head>
<body data-base="${ctx.base}"${live ? html` data-events="${ctx.apiBase}/api/events" data-after="${options.lastEventId}"` : ""}${
    chrome.loginPath ? html` data-login="${chrome.loginPath}"` : ""
  }>
<a class="skip-link" href="#main">Skip to content</a>
<header class="topbar">
  <div class="topbar-inner">
    <a class="brand" href="${chrome.home}"><span class="brand-mark" aria-hidden="true"></span>${chrome.brand}</a>
    ${
      user
        ? html`<nav class="nav" aria-label="Pages">${links.map(
            (link) =>
              html`<a href="${link.href}"${link.href === current ? html` aria-current="page"` : ""}>${link.label}</a>`,
          )}</nav>
    <div class="who">
      ${live ? html`<span class="live" data-live-status title="live updates">live</span>` : ""}
      <span class="user">${user.user}${user.admin ? html` <span class="tag">admin</span>` : ""}</span>
      ${
        chrome.logoutPath
          ? html`<form method="post" action="${chrome.logoutPath}" class="inline">${csrfField(ctx)}<button class="button ghost small" type="submit">Log out</button></form>`
          : ""
      }
    </div>`
        : ""
    }
  </div>
</header>
<main class="container" id="main" tabindex="-1">
  <div class="flashes" data-flashes role="status" aria-live="polite">${(options.flash ?? []).map(
    (m) => html`<div class="flash flash-${m.kind}">${m.text}</div>`,
  )}</div>
  <h1>${options.title}</h1>
  ${options.body}
</main>
</body>
</html>`;
}
