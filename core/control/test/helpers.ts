import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateEd25519KeyPair } from '@rustynet/daemon';
import { isRustynetError } from '@rustynet/plugin-api';
import { AdminClient, ControlClient, startControlServer, type ControlServerOptions, type RunningControlServer } from '../src/index.js';
import { pgCluster } from './pg-cluster.js';

/** A database engine the suites run against. */
export type Engine = 'sqlite' | 'postgres';

/**
 * The engines the control suites run against: `RUSTYNET_TEST_DATABASES` (comma-separated),
 * default both. Every parametrized suite passes on each.
 */
export const ENGINES: Engine[] = (process.env['RUSTYNET_TEST_DATABASES'] ?? 'sqlite,postgres')
  .split(',')
  .map((e) => e.trim())
  .filter((e): e is Engine => e === 'sqlite' || e === 'postgres');

/** A fresh database for `engine`: undefined (SQLite in the data directory) or a new PostgreSQL database's URL. */
export async function freshDatabase(engine: Engine): Promise<string | undefined> {
  return engine === 'postgres' ? (await pgCluster()).createDatabase() : undefined;
}

export interface Harness {
  dir: string;
  server: RunningControlServer;
  admin: AdminClient;
  stop(): Promise<void>;
}

/**
 * Starts a control server in a temporary (or the given) data directory. With `engine`
 * `postgres` and no `database` in `opts`, it gets a new database on the test cluster.
 */
export async function startHarness(opts: Partial<ControlServerOptions> & { engine?: Engine } = {}, dir?: string): Promise<Harness> {
  const { engine = 'sqlite', ...rest } = opts;
  const dataDir = dir ?? (await mkdtemp(join(tmpdir(), 'rn-control-')));
  const database = rest.database ?? (await freshDatabase(engine));
  const server = await startControlServer({ listen: '127.0.0.1:0', dataDir, ...rest, ...(database !== undefined && { database }) });
  return {
    dir: dataDir,
    server,
    admin: new AdminClient(server.adminSocket),
    stop: async () => {
      await server.close();
      if (dir === undefined) await rm(dataDir, { recursive: true, force: true });
    },
  };
}

export function newClient(url: string): ControlClient {
  return new ControlClient({ url, identityKeyPem: generateEd25519KeyPair().privateKeyPem });
}

export async function createKey(admin: AdminClient, body: Record<string, unknown> = {}): Promise<string> {
  const r = (await admin.call('POST', '/admin/v1/keys', body)) as { key: string };
  return r.key;
}

/**
 * The error `p` rejects with as `CODE` or `CODE:reason` (`details.reason`, e.g.
 * `AUTH_FAILED:node-key-expired`); throws when it resolves or rejects with anything else.
 */
export async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    if (isRustynetError(err)) return `${err.code}${typeof err.details?.['reason'] === 'string' ? `:${err.details['reason']}` : ''}`;
    throw err;
  }
  throw new Error('expected an error');
}

/** Two harnesses on one fresh PostgreSQL database, sharing the first one's signing key. */
export async function twoInstances(): Promise<[Harness, Harness]> {
  const database = await freshDatabase('postgres');
  const a = await startHarness({ engine: 'postgres', ...(database !== undefined && { database }), syncIntervalMs: 200 });
  const b = await startHarness({
    engine: 'postgres',
    ...(database !== undefined && { database }),
    keyFile: join(a.dir, 'control-plane.key'),
    syncIntervalMs: 200,
  });
  return [a, b];
}
