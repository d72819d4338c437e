/**
 * Failure story of a restore (integration): `rustynet control restore` killed with SIGKILL in
 * the middle of its transaction leaves the old state whole, on both engines. The kill lands
 * while the restore's transaction has written: PostgreSQL, it has emptied `nodes` and waits
 * for a lock the test holds on `auth_keys` (seen in pg_stat_activity); SQLite, it holds the
 * write lock (a probe's BEGIN IMMEDIATE is SQLITE_BUSY). Prints what it saw.
 */
import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import pg from 'pg';
import { backupControlPlane, hostAddresses, sealBackup, type BackupPayload } from '../src/index.js';
import { createKey, ENGINES, freshDatabase, newClient, startHarness, type Harness } from './helpers.js';

const CLI = fileURLToPath(new URL('../../../cli/dist/src/bin/rustynet.js', import.meta.url));
const BIG = 20_000;

/** A backup of `BIG` nodes signed with the harness's own key (what a large network's backup is). */
async function bigBackup(h: Harness, database: string | undefined, file: string): Promise<void> {
  await backupControlPlane({ dataDir: h.dir, ...(database !== undefined && { database }), out: file });
  const p = JSON.parse((JSON.parse(await readFile(file, 'utf8')) as { payload: string }).payload) as BackupPayload;
  const ula = String(p.tables.meta[0]?.['ula_prefix']);
  p.tables.nodes = Array.from({ length: BIG }, (_, i) => {
    const a = hostAddresses(ula, i + 1);
    return {
      id: `big${i}`,
      name: `big${i}`,
      identity_key: Buffer.from(`identity-${i}`.padEnd(32, '.')).toString('base64'),
      keys: '{}',
      endpoints: '[]',
      tags: '[]',
      ipv4: a.ipv4,
      ipv6: a.ipv6,
      probe_port: null,
      created_at: 1,
      updated_at: 1,
      expired_at: null,
      auth_key_id: 'none',
    };
  });
  (p.tables.meta[0] as Record<string, unknown>)['next_host'] = BIG + 1;
  await writeFile(file, sealBackup(p, h.server.service.key), { mode: 0o600 });
}

const stderrOf = new WeakMap<object, string>();

function restoreProcess(h: Harness, database: string | undefined, file: string): ReturnType<typeof spawn> {
  const args = [CLI, 'control', 'restore', file, '--data', h.dir, ...(database !== undefined ? ['--database', database] : [])];
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  child.stderr?.on('data', (d: Buffer) => stderrOf.set(child, (stderrOf.get(child) ?? '') + d.toString()));
  return child;
}

async function nodeCount(h: Harness): Promise<number> {
  return ((await h.admin.call('GET', '/admin/v1/nodes')) as { nodes: unknown[] }).nodes.length;
}

for (const engine of ENGINES) {
  describe(`control: restore killed halfway [${engine}] (integration)`, function () {
    this.timeout(180_000);
    let h: Harness;
    let database: string | undefined;
    beforeEach(async () => {
      database = await freshDatabase(engine);
      h = await startHarness({ engine, syncIntervalMs: 200, ...(database !== undefined && { database }) });
    });
    afterEach(async () => {
      await h.stop();
    });

    it('SIGKILL mid-transaction: the old state stays whole; a full restore then works', async () => {
      const key = await createKey(h.admin, { reusable: true });
      for (const n of ['old1', 'old2', 'old3']) await newClient(h.server.url).enrol({ authKey: key, name: n, keys: {} });
      const file = join(h.dir, 'big.json');
      await bigBackup(h, database, file);
      const child = restoreProcess(h, database, file);
      const exited = new Promise<void>((r) => child.once('exit', () => r()));
      const t0 = Date.now();
      const gone = (): boolean => child.exitCode !== null || Date.now() - t0 > 60_000;
      if (database !== undefined) {
        // Hold a lock the restore's second DELETE waits for: it has emptied `nodes` by then.
        const blocker = new pg.Client({ connectionString: database });
        // pg_stat_activity is read once per transaction: watch from another connection.
        const watcher = new pg.Client({ connectionString: database });
        await blocker.connect();
        await watcher.connect();
        await blocker.query('begin');
        await blocker.query('lock table auth_keys in share mode');
        try {
          for (;;) {
            const r = await watcher.query<{ n: string }>(
              "select count(*) as n from pg_stat_activity where datname = current_database() and backend_xid is not null and wait_event_type = 'Lock'",
            );
            if (Number(r.rows[0]?.n) > 0) break;
            if (gone()) throw new Error(`the restore never blocked mid-transaction: ${stderrOf.get(child) ?? ''}`);
            await new Promise((r2) => setTimeout(r2, 5));
          }
          child.kill('SIGKILL');
          await exited;
        } finally {
          await blocker.query('rollback');
          await blocker.end();
          await watcher.end();
        }
      } else {
        // The restore holds SQLite's write lock from its first DELETE to its COMMIT.
        const probe = new Database(join(h.dir, 'control.db'), { timeout: 0 });
        try {
          for (;;) {
            try {
              probe.exec('begin immediate');
              probe.exec('rollback');
            } catch (err) {
              if ((err as { code?: string }).code === 'SQLITE_BUSY') break;
              throw err;
            }
            if (gone()) throw new Error(`the restore never held the write lock: ${stderrOf.get(child) ?? ''}`);
            await new Promise((r2) => setTimeout(r2, 2));
          }
          child.kill('SIGKILL');
          await exited;
        } finally {
          probe.close();
        }
      }
      const killedAt = Date.now() - t0;
      await new Promise((r) => setTimeout(r, 500));
      const n = await nodeCount(h);
      console.log(`      restore of ${BIG} nodes killed mid-transaction after ${killedAt} ms: ${n} nodes (the old 3)`);
      expect(n).to.equal(3);
      const ok = restoreProcess(h, database, file);
      const code = await new Promise<number | null>((r) => ok.once('exit', r));
      expect(code, stderrOf.get(ok)).to.equal(0);
      for (let i = 0; i < 100 && (await nodeCount(h)) !== BIG; i++) await new Promise((r) => setTimeout(r, 50));
      expect(await nodeCount(h)).to.equal(BIG);
    });
  });
}
