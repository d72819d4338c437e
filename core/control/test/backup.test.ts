/**
 * Backup and restore on both engines: a consistent signed snapshot, a restore that keeps every
 * daemon's watermark behind the next version, refusals of a changed byte or a foreign signature
 * with nothing restored, and a restore that fails halfway leaving the old state.
 */
import { expect } from 'chai';
import { createHash, sign } from 'node:crypto';
import { copyFile, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileStateStore, NetmapTrust, generateEd25519KeyPair, privateKeyFromPem } from '@rustynet/daemon';
import { isRustynetError } from '@rustynet/plugin-api';
import { ControlClient, backupControlPlane, restoreControlPlane, sealBackup, type BackupPayload } from '../src/index.js';
import { createKey, ENGINES, freshDatabase, newClient, startHarness, type Harness } from './helpers.js';

async function nodeIds(h: Harness): Promise<string[]> {
  return ((await h.admin.call('GET', '/admin/v1/nodes')) as { nodes: Array<{ id: string }> }).nodes.map((n) => n.id).sort();
}

/** Waits until the server has picked up a change made beside it (its periodic check). */
async function until(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !cond(); i++) await new Promise((r) => setTimeout(r, 25));
  expect(cond()).to.equal(true);
}

for (const engine of ENGINES) {
  describe(`control: backup and restore [${engine}]`, function () {
    this.timeout(60_000);
    let h: Harness;
    let dir: string;
    let database: string | undefined;
    let trust: NetmapTrust;
    let a: ControlClient;
    let pem: string;

    /** A daemon's trust pipeline: verifies a map, refuses replays, commits the watermark. */
    async function apply(c: ControlClient): Promise<number> {
      const signed = await c.poll(0, { waitMs: 0 });
      const t = await trust.check(signed);
      await trust.commit(t);
      return t.netmap.version;
    }

    beforeEach(async () => {
      dir = await mkdtemp(join(tmpdir(), 'rn-backup-'));
      database = await freshDatabase(engine);
      h = await startHarness({ engine, syncIntervalMs: 100, ...(database !== undefined && { database }) });
      trust = new NetmapTrust(h.server.service.key.publicKey, new FileStateStore(join(dir, 'daemon-state')));
      pem = generateEd25519KeyPair().privateKeyPem;
      a = new ControlClient({ url: h.server.url, identityKeyPem: pem });
      await a.enrol({ authKey: await createKey(h.admin, { reusable: true }), name: 'a', keys: {} });
    });
    afterEach(async () => {
      await h.stop();
      await rm(dir, { recursive: true, force: true });
    });

    const data = (): { dataDir: string; database?: string } => ({ dataDir: h.dir, ...(database !== undefined && { database }) });

    it('restores an older backup online; the next version is above the daemon watermark (no replay)', async () => {
      const out = join(dir, 'backup.json');
      const b = await backupControlPlane({ ...data(), out });
      expect((await stat(out)).mode & 0o777).to.equal(0o600);
      expect(b.nodes).to.equal(1);
      await apply(a);
      // Changes after the backup: the daemon's watermark moves past the backup's version.
      const key = await createKey(h.admin, { reusable: true });
      for (const n of ['b', 'c']) await newClient(h.server.url).enrol({ authKey: key, name: n, keys: {} });
      const watermark = await apply(a);
      expect(watermark).to.be.greaterThan(b.version);
      const r = await restoreControlPlane({ ...data(), file: out });
      console.log(
        `      backup v${b.version} (${b.bytes} bytes); daemon watermark v${watermark}; restore issued v${r.version} (live was v${r.previousVersion})`,
      );
      expect(r.version).to.be.greaterThan(watermark);
      await until(() => h.server.service.snapshot.version === r.version);
      expect(await nodeIds(h)).to.deep.equal(['a']);
      expect(await apply(a)).to.equal(r.version);
    });

    it('restores into a fresh database (disaster recovery) with versions above every watermark', async () => {
      const out = join(dir, 'backup.json');
      const b = await backupControlPlane({ ...data(), out });
      await newClient(h.server.url).enrol({ authKey: await createKey(h.admin), name: 'late', keys: {} });
      const watermark = await apply(a);
      // A new host: the signing key restored from its own backup, an empty database.
      const dr = join(dir, 'dr');
      await mkdir(dr, { mode: 0o700 });
      await copyFile(join(h.dir, 'control-plane.key'), join(dr, 'control-plane.key'));
      await h.stop();
      const drDatabase = await freshDatabase(engine);
      const r = await restoreControlPlane({ dataDir: dr, ...(drDatabase !== undefined && { database: drDatabase }), file: out });
      expect(r.previousVersion).to.be.lessThan(b.version);
      expect(r.version).to.be.greaterThan(watermark);
      h = await startHarness({ engine, ...(drDatabase !== undefined && { database: drDatabase }) }, dr);
      expect(await nodeIds(h)).to.deep.equal(['a']);
      // The same node identity, now talking to the recovered control plane.
      const t = await trust.check(await new ControlClient({ url: h.server.url, identityKeyPem: pem }).poll(0, { waitMs: 0 }));
      expect(t.status).to.equal('new');
      expect(t.netmap.version).to.be.greaterThan(watermark);
    });

    it('refuses a flipped byte, a foreign signature and a truncated file, and restores nothing', async () => {
      const out = join(dir, 'backup.json');
      await backupControlPlane({ ...data(), out });
      await newClient(h.server.url).enrol({ authKey: await createKey(h.admin), name: 'after', keys: {} });
      const before = h.server.service.snapshot.version;
      const text = await readFile(out, 'utf8');
      const file = JSON.parse(text) as { payload: string; signature: string; sha256: string; publicKey: string };
      // One byte of the payload changed (inside a node id): checksum mismatch.
      const i = text.indexOf('\\"id\\":\\"a\\"');
      expect(i).to.be.greaterThan(0);
      const flipped = Buffer.from(text);
      flipped[i + 9] = 'b'.charCodeAt(0); // the node id a -> b
      // A payload changed and re-checksummed, signed by another key: signature refused.
      const other = generateEd25519KeyPair();
      const payload = file.payload.replace('"id":"a"', '"id":"z"');
      const forged = {
        ...file,
        payload,
        sha256: createHash('sha256').update(payload).digest('hex'),
        signature: sign(
          null,
          Buffer.concat([Buffer.from('rustynet-control-backup-v1\n'), Buffer.from(payload)]),
          privateKeyFromPem(other.privateKeyPem),
        ).toString('base64'),
      };
      const cases: Array<[string, string | Buffer, string]> = [
        ['flipped', flipped, 'sha256'],
        ['forged', JSON.stringify(forged), 'signature'],
        ['foreign key', JSON.stringify({ ...forged, publicKey: other.publicKeyB64 }), 'publicKey'],
        ['truncated', text.slice(0, text.length / 2), 'format'],
      ];
      for (const [name, content, field] of cases) {
        const f = join(dir, `${name}.json`);
        await writeFile(f, content);
        const err = await restoreControlPlane({ ...data(), file: f }).catch((e: unknown) => e);
        expect(isRustynetError(err, 'BACKUP_INVALID'), `${name}: ${String(err)}`).to.equal(true);
        expect((err as { field?: string }).field, name).to.equal(field);
        expect(String(err)).to.contain('nothing restored');
      }
      expect(await nodeIds(h)).to.deep.equal(['a', 'after']);
      expect(h.server.service.snapshot.version).to.equal(before);
    });

    it('a restore that fails halfway (a row breaks a constraint) leaves the old state whole', async () => {
      const out = join(dir, 'backup.json');
      const key = await createKey(h.admin, { reusable: true });
      for (const n of ['b', 'c', 'd']) await newClient(h.server.url).enrol({ authKey: key, name: n, keys: {} });
      await backupControlPlane({ ...data(), out });
      // Signed by the right key, but the last node reuses the first one's address: the insert
      // fails after the tables were emptied and most rows were written again.
      const file = JSON.parse(await readFile(out, 'utf8')) as { payload: string };
      const p = JSON.parse(file.payload) as { tables: { nodes: Array<Record<string, unknown>> } };
      const nodes = p.tables.nodes;
      nodes[nodes.length - 1]['ipv4'] = nodes[0]?.['ipv4'];
      const cp = h.server.service.key;
      const bad = join(dir, 'bad.json');
      await writeFile(bad, sealBackup(p as unknown as BackupPayload, cp));
      await newClient(h.server.url).enrol({ authKey: key, name: 'e', keys: {} });
      const before = h.server.service.snapshot.version;
      const err = await restoreControlPlane({ ...data(), file: bad }).catch((e: unknown) => e);
      expect(isRustynetError(err, 'BACKUP_INVALID'), String(err)).to.equal(true);
      expect(String(err)).to.contain('constraint');
      expect(await nodeIds(h)).to.deep.equal(['a', 'b', 'c', 'd', 'e']);
      await new Promise((r) => setTimeout(r, 300));
      expect(h.server.service.snapshot.version).to.equal(before);
      // The untouched database still takes a good restore.
      const r = await restoreControlPlane({ ...data(), file: out });
      await until(() => h.server.service.snapshot.version === r.version);
      expect(await nodeIds(h)).to.deep.equal(['a', 'b', 'c', 'd']);
    });
  });
}
