/**
 * Integration test (root): the disaster-recovery drill of docs/operations/dr.md with real
 * rustynetd processes in namespaces, on SQLite and on PostgreSQL (`RUSTYNET_TEST_DATABASES`,
 * default both). A backup is taken (`rustynet control backup`), changes are made after it, then
 * the primary control instance is SIGKILLed and its data directory deleted (SQLite: the database
 * with it; PostgreSQL: its database is dropped too). A new instance at the same address is
 * restored from the backup (`rustynet control restore`, into a new, empty database) and
 * started; the daemons were never touched.
 * Prints RPO (admin changes made after the backup, lost) and RTO (from the start of the restore
 * until every daemon applied a fresh map); asserts RTO <= 60 s, no map refused as a replay
 * (watermark continuity), traffic before and after, and a verifiable audit log that records the
 * restore.
 */
import { expect } from 'chai';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Mesh, checkPrerequisites, sleep, type PingResult } from '@rustynet/testbed';
import { REPO_ROOT } from './mesh-fixture.js';
import { dropDatabase, socketDatabase } from './pg-socket.js';

const BACKEND = '@rustynet/backend-wireguard';
/** The issue's target for the time from starting the restore until every daemon has a fresh map. */
const RTO_TARGET_MS = 60_000;

function failed(results: PingResult[]): string[] {
  return results.filter((r) => !r.ok).map((r) => `${r.from}->${r.to} ${r.address}`);
}

interface AuditList {
  ok: boolean;
  records: Array<{ seq: number; type: string; data: Record<string, unknown> }>;
}

const ENGINES = (process.env['RUSTYNET_TEST_DATABASES'] ?? 'sqlite,postgres')
  .split(',')
  .map((e) => e.trim())
  .filter((e) => e === 'sqlite' || e === 'postgres');

for (const engine of ENGINES)
  describe(`control plane disaster recovery drill (${BACKEND}, ${engine})`, function () {
    this.timeout(300_000);
    let mesh: Mesh | undefined;
    let pgName = '';
    const onSigint = (): void => {
      mesh?.emergencyStopSync();
      process.exit(130);
    };

    before(async () => {
      const problems = checkPrerequisites([BACKEND]);
      if (problems.length > 0) throw new Error(`prerequisites: ${problems.join('; ')}`);
      process.once('SIGINT', onSigint);
      const pg = engine === 'postgres' ? await socketDatabase() : undefined;
      pgName = pg?.name ?? '';
      mesh = await Mesh.create({
        backends: [BACKEND],
        nodes: ['a', 'b', 'c'],
        cwd: REPO_ROOT,
        control: { netmapLifetime: '10m', pollTimeout: '20s', maxRetryMs: 1_000, ...(pg && { database: pg.url }) },
      });
    });
    after(async () => {
      process.off('SIGINT', onSigint);
      await mesh?.destroy();
    });

    it('primary and its database lost: restored from the last backup; prints RPO and RTO', async () => {
      if (!mesh) throw new Error('mesh not created (see the before-all hook error)');
      const m = mesh;
      await m.startDaemons(BACKEND, undefined, 120_000);
      const ctl = m.control;
      if (!ctl) throw new Error('no control plane');
      const dbArgs = (): string[] => (ctl.opts.database !== undefined ? ['--database', ctl.opts.database] : []);
      expect(failed(await m.pingMatrix())).to.deep.equal([]);

      // The scheduled backup, kept off the control host (here: outside its data directory).
      const backupFile = join(m.workDir, 'offsite', 'control-backup.json');
      await mkdir(join(m.workDir, 'offsite'), { recursive: true, mode: 0o700 });
      const backup = (await ctl.admin(['backup', '--out', backupFile, '--key-file', m.cpKeyFile, ...dbArgs()])) as {
        version: number;
        nodes: number;
      };
      const backupAt = Date.now();

      // Work done after the backup: lost with the primary.
      await ctl.createKeyFile(join(m.workDir, 'offsite', 'late-1.key'));
      await ctl.createKeyFile(join(m.workDir, 'offsite', 'late-2.key'), { reusable: true });
      await ctl.admin(['nodes', 'tag', 'a', 'late']);
      await ctl.setAcl({ rules: [{ id: 'all', action: 'accept', src: ['*'], dst: ['*'], proto: 'any' }] });
      const audit = (await ctl.admin(['audit', 'list', '--key-file', m.cpKeyFile, ...dbArgs()])) as AuditList;
      expect(audit.ok).to.equal(true);
      const backupRecord = audit.records.find((r) => r.type === 'control.backup');
      const lost = audit.records.filter((r) => r.seq > (backupRecord?.seq ?? Infinity));
      const stored = (await ctl.nodes()).length;
      // Every daemon applies the last map before the disaster: its watermark is above the backup's version.
      const watermark: Record<string, number> = {};
      await m.waitFor(
        (id, s) => {
          const v = s.netmap?.version ?? 0;
          watermark[id] = v;
          return s.peers.length === 2 && v > backup.version;
        },
        'the post-backup maps applied',
        30_000,
      );
      await sleep(1_000);
      for (const n of m.nodes) watermark[n.id] = (await m.status(n.id)).netmap?.version ?? 0;

      // Disaster: the primary dies and its disk with it.
      await ctl.kill();
      await rm(ctl.dataDir, { recursive: true, force: true });
      if (engine === 'postgres') await dropDatabase(pgName);
      const lostAt = Date.now();
      await sleep(2_000);
      expect(failed(await m.pingMatrix(1)), 'data plane while no control plane runs').to.deep.equal([]);

      // Recovery (docs/operations/dr.md): an empty data directory, the signing key from its own
      // safe place, restore the last backup, start. The new instance takes the old address.
      const t0 = Date.now();
      await mkdir(ctl.dataDir, { recursive: true, mode: 0o700 });
      if (engine === 'postgres') ctl.opts.database = (await socketDatabase()).url;
      const db = ctl.opts.database !== undefined ? ['--database', ctl.opts.database] : [];
      const restored = (await ctl.admin(['restore', backupFile, '--key-file', m.cpKeyFile, ...db])) as { version: number; nodes: number };
      const restoredMs = Date.now() - t0;
      await ctl.start();
      const startedMs = Date.now() - t0;
      const fresh: Record<string, number> = {};
      await m.waitFor(
        (id, s) => {
          const ok = (s.netmap?.version ?? 0) > (watermark[id] ?? Infinity) && s.state === 'up';
          if (ok) fresh[id] ??= Date.now() - t0;
          return ok;
        },
        'a fresh map from the restored control plane',
        RTO_TARGET_MS + 30_000,
      );
      const rto = Math.max(...Object.values(fresh));
      const statuses = await Promise.all(m.nodes.map((n) => m.status(n.id)));
      const replays = statuses.filter((s) => s.lastRejection?.code === 'NETMAP_REPLAYED').length;
      const after = await m.pingMatrix();
      const verify = (await ctl.admin(['audit', 'verify', '--key-file', m.cpKeyFile, ...db])) as {
        ok: boolean;
        verification: { records: number };
      };
      const log = (await ctl.admin(['audit', 'list', '--key-file', m.cpKeyFile, ...db])) as AuditList;
      const restoreRecord = log.records.at(-1);

      console.log(
        `      RPO: ${lost.length} admin change(s) after the backup lost (${lost.map((r) => r.type).join(', ')}), ` +
          `made in the ${Math.round((lostAt - backupAt) / 1000)} s between the backup and the loss; nodes ${stored} -> ${restored.nodes}`,
      );
      console.log(
        `      RTO: ${rto} ms from starting the restore until every daemon applied a fresh map ` +
          `(restore done ${restoredMs} ms, serving ${startedMs} ms; ${m.nodes.map((n) => `${n.id} ${fresh[n.id]} ms`).join(', ')}); ` +
          `versions: backup v${backup.version}, daemon watermarks up to v${Math.max(...Object.values(watermark))}, restored v${restored.version}; ` +
          `maps refused as replays: ${replays}; pings after ${after.filter((r) => r.ok).length}/${after.length}; audit ${verify.verification.records} records verified`,
      );
      expect(lost.map((r) => r.type)).to.deep.equal(['authkey.create', 'authkey.create', 'node.tags', 'acl.set']);
      expect(rto).to.be.at.most(RTO_TARGET_MS);
      expect(replays, 'daemons that refused a map as a replay').to.equal(0);
      expect(restored.version).to.be.greaterThan(Math.max(...Object.values(watermark)));
      expect(failed(after)).to.deep.equal([]);
      expect(verify.ok).to.equal(true);
      expect(restoreRecord?.type).to.equal('control.restore');
      expect((await ctl.nodes()).find((n) => n.id === 'a')?.tags ?? []).to.not.include('late');
    });
  });
