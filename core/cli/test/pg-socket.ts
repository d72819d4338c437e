/**
 * PostgreSQL for the CLI's control-plane integration tests: the control package's throwaway
 * cluster (core/control/test/pg-cluster.ts, loaded from its build), reached through its unix
 * socket, which no network namespace hides (its TCP port is on the root namespace's loopback).
 */

/** The parts of the control package's test cluster used here. */
interface PgCluster {
  port: number;
  socketDir: string;
  createDatabase(): Promise<string>;
  dropDatabase(name: string): Promise<void>;
}

async function cluster(): Promise<PgCluster> {
  const href = new URL('../../../control/dist/test/pg-cluster.js', import.meta.url).href;
  const mod = (await import(href)) as { pgCluster(): Promise<PgCluster> };
  return mod.pgCluster();
}

/** A new, empty database; its URL reaches the server over the unix socket. */
export async function socketDatabase(): Promise<{ url: string; name: string }> {
  const c = await cluster();
  const name = new URL(await c.createDatabase()).pathname.slice(1);
  return { url: `postgres://postgres@localhost:${c.port}/${name}?host=${c.socketDir}`, name };
}

/** Drops database `name` (forcing its connections closed). */
export async function dropDatabase(name: string): Promise<void> {
  await (await cluster()).dropDatabase(name);
}
