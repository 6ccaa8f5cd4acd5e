/** Who is asking: the host app's answer to `authenticate(request)`. */
export interface Principal {
  /** The owner name tasks are recorded under (the seeds' `session['username']`). */
  readonly user: string;
  /** Admins see and cancel every task; users only their own. */
  readonly admin: boolean;
  /**
   * This login's id (new at every login, unknown after logout): the dashboard binds form tokens
   * to it, so a token from another login is refused. Without it a user's token is the same at
   * every login. Never shown on a page.
   */
  readonly session?: string;
}

/** Supplied by the host app: who sent this request, or `null` when nobody is logged in. */
export type Authenticate = (
  request: Request,
) => Principal | null | undefined | Promise<Principal | null | undefined>;

/**
 * The owner filter for reads and cancels: a user is always scoped to themselves; an admin sees
 * everyone (`undefined`) unless they ask for one owner.
 */
export function ownerScope(principal: Principal, requested?: string | null): string | undefined {
  if (!principal.admin) return principal.user;
  return requested ?? undefined;
}
