import { importPeers } from "./driver.js";

/**
 * The small part of `pg` and of BullMQ's PostgreSQL backend the engine on PostgreSQL uses, typed
 * here: both are optional peer dependencies, imported on first use. Jobs are written and taken
 * with the backend's SQL functions inside the ledger's transactions; `pg` is needed only for the
 * engine's own connections (migrations, `nextDue`, the LISTEN connection).
 */

export interface PgQueryResult {
  readonly rows: Record<string, unknown>[];
}

export interface PgClient {
  query(text: string, values?: readonly unknown[]): Promise<PgQueryResult>;
  connect(): Promise<void>;
  end(): Promise<void>;
  on(event: "notification", listener: (message: { channel: string; payload?: string }) => void): this;
  on(event: "error", listener: (error: Error) => void): this;
  removeAllListeners(): this;
}

export interface PgPoolClient {
  query(text: string, values?: readonly unknown[]): Promise<PgQueryResult>;
  release(destroy?: boolean): void;
}

export interface PgPool {
  query(text: string, values?: readonly unknown[]): Promise<PgQueryResult>;
  connect(): Promise<PgPoolClient>;
  end(): Promise<void>;
  on(event: "error", listener: (error: Error) => void): this;
}

export interface PostgresDriver {
  Client: new (config: { connectionString: string; keepAlive?: boolean }) => PgClient;
  Pool: new (config: { connectionString: string; max: number }) => PgPool;
  /** BullMQ's migrations of its PostgreSQL schema, on one session (its advisory lock serializes processes). */
  runMigrations(client: PgPoolClient, schema: string): Promise<number>;
}

/** The packages the engine on PostgreSQL needs, as the user installs them. */
export const POSTGRES_PEER_PACKAGES = ["bullmq", "pg"] as const;

/** Import BullMQ and pg through `importer` (the dynamic `import`); a missing one is named with the install command. */
export async function importPostgresDriver(
  importer: (name: string) => Promise<any>,
): Promise<PostgresDriver> {
  const { bullmq, pg } = await importPeers(
    "the bullmq engine on PostgreSQL",
    POSTGRES_PEER_PACKAGES,
    importer,
  );
  const driver = pg.Client ? pg : pg.default;
  return { Client: driver.Client, Pool: driver.Pool, runMigrations: bullmq.runMigrations };
}

let loading: Promise<PostgresDriver> | undefined;

/** BullMQ and pg, imported once, on first use. */
export function loadPostgresDriver(): Promise<PostgresDriver> {
  loading ??= importPostgresDriver((name) => import(name)).catch((error) => {
    loading = undefined;
    throw error;
  });
  return loading;
}
