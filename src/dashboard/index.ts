export {
  jsonBlock,
  type PageContext,
  progressBar,
  section,
  statusBadge,
  statusOf,
  taskItem,
  taskList,
  time,
} from "./components.js";
export type { FlashMessage } from "./flash.js";
export {
  createDashboardHandler,
  type Dashboard,
  type DashboardOptions,
  type PageContent,
  safeReturn,
} from "./handler.js";
export { escapeHtml, html, raw, SafeHtml } from "./html.js";
export type { NavLink } from "./layout.js";
