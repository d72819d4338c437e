/**
 * The signing-key rotation state in control-plane backups, on both engines: a backup taken
 * mid-rotation (next key announced, nodes' acknowledgements recorded) restores onto a new
 * instance (disaster recovery) and the rotation continues there: `--switch` works without
 * `--force`, and a node pinned to the old key follows. The backup carries public keys only; the
 * private keys come from the data directory, as the primary key always did.
 */
import { expect } from 'chai';
import { cp, copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileStateStore, NetmapTrust, generateEd25519KeyPair } from '@rustynet/daemon';
import {
  ControlClient,
  SIGNING_KEYS_DIR,
  backupControlPlane,
  readControlKey,
  restoreControlPlane,
  sealBackup,
  type BackupPayload,
  type RotationStatus,
} from '../src/index.js';
import { createKey, ENGINES, freshDatabase, startHarness, type Harness } from './helpers.js';

const status = async (h: Harness): Promise<RotationStatus> => (await h.admin.call('GET', '/admin/v1/signing-key')) as RotationStatus;

/** Waits until `fn` holds (bounded); the test asserts on the state, never on time. */
async function until(what: string, fn: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (await fn()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

for (const engine of ENGINES) {
  describe(`control: backup and restore mid-rotation [${engine}]`, function () {
    this.timeout(60_000);
    let h: Harness;
    let dir: string;
    let database: string | undefined;
    let client: ControlClient;
    const pem = generateEd25519KeyPair().privateKeyPem;
    let trust: NetmapTrust;
    let version: number;

    /** One poll through the daemon's trust pipeline (pinned to the first key). */
    async function sync(): Promise<void> {
      const m = await client.poll(version, { waitMs: 50 });
      if (!m) return;
      const t = await trust.check(m);
      await trust.commit(t);
      version = t.netmap.version;
    }

    beforeEach(async () => {
      dir = await mkdtemp(join(tmpdir(), 'rn-backup-rot-'));
      database = await freshDatabase(engine);
      h = await startHarness({ engine, ...(database !== undefined && { database }) });
      trust = new NetmapTrust(h.server.service.key.publicKey, new FileStateStore(join(dir, 'node-state')));
      version = 0;
      client = new ControlClient({ url: h.server.url, identityKeyPem: pem });
      await client.enrol({ authKey: await createKey(h.admin), name: 'a', keys: {} });
      await sync();
    });
    afterEach(async () => {
      await h.stop();
      await rm(dir, { recursive: true, force: true });
    });

    it('a backup taken after --announce restores on a new instance, and --switch works there', async () => {
      const oldKey = h.server.service.key.publicKey;
      const ann = (await h.admin.call('POST', '/admin/v1/signing-key/announce', {})) as { next: string };
      await sync();
      await sync(); // the poll at the announcing version is the acknowledgement
      await until('a acknowledged', async () => (await status(h)).pending.length === 0);
      const out = join(dir, 'backup.json');
      await backupControlPlane({ dataDir: h.dir, ...(database !== undefined && { database }), out });
      const payload = JSON.parse((JSON.parse(await readFile(out, 'utf8')) as { payload: string }).payload) as BackupPayload;
      expect(payload.tables.signing_keys?.map((r) => [r['role'], r['public_key']])).to.have.deep.members([
        ['current', oldKey],
        ['next', ann.next],
      ]);
      expect(payload.tables.signing_key_acks?.map((r) => r['node_id'])).to.include('a');
      expect(JSON.stringify(payload), 'no private key in the backup').to.not.include('PRIVATE KEY');

      // Disaster recovery: the data directory's keys (backed up on their own), an empty database.
      const dr = join(dir, 'dr');
      await mkdir(dr, { mode: 0o700 });
      await copyFile(join(h.dir, 'control-plane.key'), join(dr, 'control-plane.key'));
      await cp(join(h.dir, SIGNING_KEYS_DIR), join(dr, SIGNING_KEYS_DIR), { recursive: true });
      await h.stop();
      const drDatabase = await freshDatabase(engine);
      await restoreControlPlane({ dataDir: dr, ...(drDatabase !== undefined && { database: drDatabase }), file: out });
      h = await startHarness({ engine, ...(drDatabase !== undefined && { database: drDatabase }) }, dr);
      client = new ControlClient({ url: h.server.url, identityKeyPem: pem });

      const s = await status(h);
      expect([s.phase, s.state.next?.publicKey, s.nextHeldHere, s.pending]).to.deep.equal(['announced', ann.next, true, []]);
      const sw = (await h.admin.call('POST', '/admin/v1/signing-key/switch', {})) as { current: string };
      expect(sw.current).to.equal(ann.next);
      expect(h.server.service.key.publicKey).to.equal(ann.next);
      await sync();
      expect(trust.keys.trusted, 'the node trusts the new key it learnt before the disaster').to.include(ann.next);
      const m = await client.poll(0, { waitMs: 50 });
      expect((await trust.check(m)).netmap.version).to.equal(version);
    });

    it('a backup made before rotation state was backed up leaves the live rotation state alone', async () => {
      const ann = (await h.admin.call('POST', '/admin/v1/signing-key/announce', {})) as { next: string };
      const out = join(dir, 'backup.json');
      const data = { dataDir: h.dir, ...(database !== undefined && { database }) };
      await backupControlPlane({ ...data, out });
      const payload = JSON.parse((JSON.parse(await readFile(out, 'utf8')) as { payload: string }).payload) as BackupPayload;
      delete payload.tables.signing_keys;
      delete payload.tables.signing_key_acks;
      const old = join(dir, 'old-format.json');
      await writeFile(old, sealBackup(payload, await readControlKey(data)), { mode: 0o600 });
      await restoreControlPlane({ ...data, file: old });
      await until('the restore is picked up', async () => (await status(h)).version > payload.version);
      expect((await status(h)).state.next?.publicKey).to.equal(ann.next);
    });
  });
}
