/**
 * A throwaway PostgreSQL server for tests: `initdb` into a temporary directory, `pg_ctl start`
 * on a loopback port and a unix socket in that directory, one database per test harness. Run
 * as the `postgres` system user (or `nobody`) when the tests run as root, because initdb
 * refuses root. Stopped (`pg_ctl stop -m immediate`) and removed at process exit and on SIGINT.
 *
 * Binaries: `RUSTYNET_PG_BIN`, default the newest Debian /usr/lib/postgresql/<major>/bin
 * (15 on Debian 12; scripts/bootstrap.sh installs `postgresql`).
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';

/** `RUSTYNET_PG_BIN`, else the newest /usr/lib/postgresql/<major>/bin (15 on Debian 12). */
function binDir(): string {
  const env = process.env['RUSTYNET_PG_BIN'];
  if (env !== undefined && env !== '') return env;
  const root = '/usr/lib/postgresql';
  const majors = existsSync(root)
    ? readdirSync(root)
        .filter((d) => /^\d+$/.test(d) && existsSync(join(root, d, 'bin', 'initdb')))
        .sort((a, b) => Number(b) - Number(a))
    : [];
  return join(root, majors[0] ?? '15', 'bin');
}

const BIN = binDir();

/** A running test cluster. */
export interface PgCluster {
  /** Superuser URL of database `name` (default `postgres`). */
  url(name?: string): string;
  /** Creates a fresh, empty database and returns its URL. */
  createDatabase(): Promise<string>;
  /** Drops database `name`, closing its connections first (a lost database). */
  dropDatabase(name: string): Promise<void>;
  port: number;
  /** Directory of the server's unix socket: `?host=<socketDir>` reaches it from any network namespace. */
  socketDir: string;
  stop(): void;
}

function runAs(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  for (const user of ['postgres', 'nobody']) {
    const uid = spawnSync('id', ['-u', user], { encoding: 'utf8' });
    const gid = spawnSync('id', ['-g', user], { encoding: 'utf8' });
    if (uid.status === 0 && gid.status === 0) return { uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) };
  }
  throw new Error('tests run as root, and neither a postgres nor a nobody user exists to run initdb as');
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

function run(cmd: string, args: string[], user: { uid: number; gid: number } | undefined): void {
  const r = spawnSync(join(BIN, cmd), args, { encoding: 'utf8', ...(user && { uid: user.uid, gid: user.gid }), timeout: 120_000 });
  if (r.status !== 0) throw new Error(`${cmd} failed (${r.status ?? r.signal}): ${r.error?.message ?? ''}${r.stderr}${r.stdout}`);
}

async function start(): Promise<PgCluster> {
  if (!existsSync(join(BIN, 'initdb'))) {
    throw new Error(`PostgreSQL binaries not found in ${BIN}: install Debian's postgresql (scripts/bootstrap.sh) or set RUSTYNET_PG_BIN`);
  }
  const user = runAs();
  const dir = mkdtempSync(join(tmpdir(), 'rn-pg-'));
  if (user) chownSync(dir, user.uid, user.gid);
  const data = join(dir, 'data');
  let stopped = false;
  const stop = (): void => {
    if (stopped) return;
    stopped = true;
    spawnSync(join(BIN, 'pg_ctl'), ['stop', '-D', data, '-m', 'immediate', '-w'], { ...(user && { uid: user.uid, gid: user.gid }) });
    rmSync(dir, { recursive: true, force: true });
  };
  process.once('exit', stop);
  process.once('SIGINT', () => {
    stop();
    // Let the other SIGINT handlers (tests killing their own processes) run first.
    setImmediate(() => process.exit(130));
  });
  try {
    run('initdb', ['-D', data, '-U', 'postgres', '-A', 'trust', '-E', 'UTF8', '--no-sync'], user);
    const port = await freePort();
    const opts = `-c listen_addresses=127.0.0.1 -p ${port} -k ${dir} -c fsync=off -c max_connections=200`;
    run('pg_ctl', ['start', '-D', data, '-w', '-t', '60', '-l', join(dir, 'server.log'), '-o', opts], user);
    const url = (name = 'postgres'): string => `postgres://postgres@127.0.0.1:${port}/${name}`;
    return {
      port,
      socketDir: dir,
      url,
      stop,
      async createDatabase() {
        const name = `rn_${randomBytes(6).toString('hex')}`;
        const c = new pg.Client({ connectionString: url() });
        await c.connect();
        try {
          await c.query(`CREATE DATABASE ${name}`);
        } finally {
          await c.end();
        }
        return url(name);
      },
      async dropDatabase(name: string) {
        const c = new pg.Client({ connectionString: url() });
        await c.connect();
        try {
          await c.query(`DROP DATABASE ${name.replace(/[^a-z0-9_]/g, '')} WITH (FORCE)`);
        } finally {
          await c.end();
        }
      },
    };
  } catch (err) {
    stop();
    throw err;
  }
}

let cluster: Promise<PgCluster> | undefined;

/** The cluster of this test process, started on first use. */
export function pgCluster(): Promise<PgCluster> {
  cluster ??= start();
  return cluster;
}
