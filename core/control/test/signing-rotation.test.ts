/**
 * Control-plane signing-key rotation through the admin API, on both engines: announce, the
 * switch refused while a node has not seen the announcement, switch, retire; nodes with the
 * daemon's own trust (a key set pinned to the old key) follow every step. Plus two instances on
 * one PostgreSQL database sharing the rotation (the new private key copied like the old one).
 */
import { expect } from 'chai';
import { chmod, copyFile, mkdir, mkdtemp, readdir, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileStateStore, NetmapTrust } from '@rustynet/daemon';
import { isRustynetError, type SignedNetmap } from '@rustynet/plugin-api';
import { SIGNING_KEYS_DIR, type ControlClient, type RotationStatus } from '../src/index.js';
import { createKey, ENGINES, newClient, startHarness, twoInstances, type Harness } from './helpers.js';

/** A node: a control client and the daemon's trust pipeline pinned to the first key. */
class Node {
  version = 0;
  readonly trust: NetmapTrust;
  constructor(
    readonly name: string,
    readonly client: ControlClient,
    pinned: string,
    dir: string,
  ) {
    this.trust = new NetmapTrust(pinned, new FileStateStore(dir));
  }
  /** One poll: applies a new map through the trust pipeline; returns it (or null). */
  async sync(): Promise<SignedNetmap | null> {
    const m = await this.client.poll(this.version, { waitMs: 50 });
    if (m) {
      const t = await this.trust.check(m);
      await this.trust.commit(t);
      this.version = t.netmap.version;
    }
    return m;
  }
}

async function until<T>(what: string, fn: () => Promise<T | undefined>): Promise<T> {
  for (let i = 0; i < 200; i++) {
    const v = await fn();
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

async function rejects(p: Promise<unknown>, code: string): Promise<Error> {
  try {
    await p;
  } catch (err) {
    expect(isRustynetError(err, code as never), String(err)).to.equal(true);
    return err as Error;
  }
  return expect.fail(`expected ${code}`);
}

const status = async (h: Harness): Promise<RotationStatus> => (await h.admin.call('GET', '/admin/v1/signing-key')) as RotationStatus;

for (const engine of ENGINES) {
  describe(`control: signing-key rotation [${engine}]`, function () {
    this.timeout(30_000);
    let h: Harness;
    let nodes: Node[];
    let oldKey: string;
    beforeEach(async () => {
      h = await startHarness({ engine });
      oldKey = h.server.service.key.publicKey;
      const authKey = await createKey(h.admin, { reusable: true });
      nodes = [];
      for (const name of ['a', 'b']) {
        const c = newClient(h.server.url);
        await c.enrol({ authKey, name, keys: {} });
        nodes.push(new Node(name, c, oldKey, await mkdtemp(join(tmpdir(), 'rn-rot-node-'))));
      }
      for (const n of nodes) await n.sync();
    });
    afterEach(async () => {
      await h.stop();
    });

    it('announce -> switch refused naming the unseen node -> switch -> retire; nodes follow every step', async () => {
      expect((await status(h)).phase).to.equal('idle');
      await rejects(h.admin.call('POST', '/admin/v1/signing-key/switch', {}), 'KEY_ROTATION_PENDING');
      await rejects(h.admin.call('POST', '/admin/v1/signing-key/retire', {}), 'KEY_ROTATION_PENDING');

      const ann = (await h.admin.call('POST', '/admin/v1/signing-key/announce', {})) as { next: string; keyFile: string; version: number };
      expect((await stat(ann.keyFile)).mode & 0o777).to.equal(0o600);
      expect((await stat(join(h.dir, SIGNING_KEYS_DIR))).mode & 0o777).to.equal(0o700);
      await rejects(h.admin.call('POST', '/admin/v1/signing-key/announce', {}), 'KEY_ROTATION_PENDING');
      expect(await readdir(join(h.dir, SIGNING_KEYS_DIR)), 'a refused announce leaves no key behind').to.have.length(2);
      const [a, b] = nodes as [Node, Node];
      const m = await a.sync();
      expect(m?.netmap.signingKeys).to.deep.equal({ next: ann.next });
      expect(m?.signature.keyId).to.equal(h.server.service.key.keyId);
      expect(a.trust.keys.trusted).to.deep.equal([oldKey, ann.next]);
      await a.sync(); // the poll with `after` >= the announcing version is the acknowledgement
      await until('a acknowledged', async () => ((await status(h)).pending.join() === 'b' ? true : undefined));

      const versionBefore = h.server.service.snapshot.version;
      const err = await rejects(h.admin.call('POST', '/admin/v1/signing-key/switch', {}), 'KEY_ROTATION_PENDING');
      expect(err.message).to.include('b');
      expect(isRustynetError(err) && err.details?.['pending']).to.deep.equal(['b']);
      expect(h.server.service.snapshot.version, 'a refused switch changes nothing').to.equal(versionBefore);
      expect(h.server.service.key.publicKey).to.equal(oldKey);

      await b.sync();
      await b.sync();
      await until('b acknowledged', async () => ((await status(h)).pending.length === 0 ? true : undefined));
      const sw = (await h.admin.call('POST', '/admin/v1/signing-key/switch', {})) as { current: string; version: number };
      expect(sw.current).to.equal(ann.next);
      expect(h.server.service.key.publicKey).to.equal(ann.next);
      for (const n of nodes) {
        const nm = await n.sync();
        expect(nm?.netmap.version).to.be.at.least(sw.version);
        expect(nm?.netmap.signingKeys, 'no field while nothing is announced or retired').to.equal(undefined);
        await n.sync();
      }
      await until('both on the new key', async () => ((await status(h)).nodes.every((n) => n.onCurrentKey !== null) ? true : undefined));
      expect((await status(h)).phase).to.equal('switched');

      await h.admin.call('POST', '/admin/v1/signing-key/retire', {});
      for (const n of nodes) {
        const nm = await n.sync();
        expect(nm?.netmap.signingKeys).to.deep.equal({ retired: oldKey });
        expect(n.trust.keys.trusted).to.deep.equal([ann.next]);
      }
      expect((await status(h)).phase).to.equal('idle');

      // A restart keeps signing with the new key (rotation state in the database, key in signing-keys/).
      const dir = h.dir;
      const database = h.server.service.database;
      await h.server.close();
      h = await startHarness({ engine, ...(database.engine === 'postgres' && { database: database.location }) }, dir);
      expect(h.server.service.key.publicKey).to.equal(ann.next);
      const again = (await h.admin.call('POST', '/admin/v1/signing-key/announce', {})) as { next: string };
      expect(again.next).to.not.equal(ann.next);
    });

    it('--force switches past an unseen node; that node refuses the new maps with what to do, and a re-pin recovers it', async () => {
      await h.admin.call('POST', '/admin/v1/signing-key/announce', {});
      const sw = (await h.admin.call('POST', '/admin/v1/signing-key/switch', { force: true })) as { current: string; forcedPast: string[] };
      expect(sw.forcedPast).to.deep.equal(['a', 'b']);
      const a = nodes[0];
      const err = await rejects(a.sync(), 'NETMAP_SIGNATURE_INVALID');
      expect(err.message).to.include('controlPlaneKeys').and.include('key-rotation.md');
      const repinned = new NetmapTrust([oldKey, sw.current], new FileStateStore(await mkdtemp(join(tmpdir(), 'rn-rot-node-'))));
      const m = await a.client.poll(0, { waitMs: 50 });
      expect((await repinned.check(m)).status).to.equal('new');
    });

    it('refuses a bad force flag, naming it', async () => {
      await h.admin.call('POST', '/admin/v1/signing-key/announce', {});
      const err = await rejects(h.admin.call('POST', '/admin/v1/signing-key/switch', { force: 'yes' }), 'INVALID_INPUT');
      expect(isRustynetError(err) && err.field).to.equal('force');
    });
  });
}

(ENGINES.includes('postgres') ? describe : describe.skip)(
  'control: signing-key rotation, two instances on one PostgreSQL database',
  function () {
    this.timeout(60_000);
    it('two instances announcing at once: exactly one key is announced, the other leaves no key file', async () => {
      const [a, b] = await twoInstances();
      try {
        const rs = await Promise.allSettled([a, b].map((h) => h.admin.call('POST', '/admin/v1/signing-key/announce', {})));
        const ok = rs.filter((r) => r.status === 'fulfilled');
        expect(ok, JSON.stringify(rs.map((r) => (r.status === 'rejected' ? String(r.reason) : 'ok')))).to.have.length(1);
        for (const r of rs)
          if (r.status === 'rejected') expect(isRustynetError(r.reason, 'KEY_ROTATION_PENDING'), String(r.reason)).to.equal(true);
        const files = await Promise.all(
          [a, b].map(async (h) => (await readdir(join(h.dir, SIGNING_KEYS_DIR)).catch(() => [])).filter((f) => f.endsWith('.key'))),
        );
        expect(files.flat()).to.have.length(1);
        const winner = (ok[0] as PromiseFulfilledResult<{ next: string }>).value.next;
        // Both instances serve the one announcement (the loser's follows the change feed).
        await until('both show the announcement', async () =>
          (await status(a)).state.next?.publicKey === winner && (await status(b)).state.next?.publicKey === winner ? true : undefined,
        );
      } finally {
        await Promise.all([a.stop(), b.stop()]);
      }
    });

    it('both announce the same key; the instance without the new private key keeps the old one until it is copied', async () => {
      const [a, b] = await twoInstances();
      try {
        const authKey = await createKey(a.admin, { reusable: true });
        const c = newClient(b.server.url);
        await c.enrol({ authKey, name: 'n', keys: {} });
        const oldKey = a.server.service.key.publicKey;
        const ann = (await a.admin.call('POST', '/admin/v1/signing-key/announce', {})) as {
          next: string;
          nextKeyId: string;
          keyFile: string;
        };
        const viaB = await until('b announces', async () => {
          const m = await c.poll(0, { waitMs: 50 });
          return m?.netmap.signingKeys?.next === ann.next ? m : undefined;
        });
        await c.poll(viaB.netmap.version, { waitMs: 50 });
        await until('ack visible on a', async () => ((await status(a)).pending.length === 0 ? true : undefined));
        // B cannot switch: it does not hold the key. A can.
        await rejects(b.admin.call('POST', '/admin/v1/signing-key/switch', {}), 'KEY_INVALID');
        await a.admin.call('POST', '/admin/v1/signing-key/switch', {});
        await until('b follows the switch', async () => (b.server.service.snapshot.signing?.current === ann.next ? true : undefined));
        expect(b.server.service.key.publicKey, 'b keeps signing with the key it holds').to.equal(oldKey);
        // The operator copies the key file as for the first key: b picks it up at its next refresh.
        await mkdir(join(b.dir, SIGNING_KEYS_DIR), { recursive: true, mode: 0o700 });
        await copyFile(ann.keyFile, join(b.dir, SIGNING_KEYS_DIR, `${ann.nextKeyId}.key`));
        await chmod(join(b.dir, SIGNING_KEYS_DIR, `${ann.nextKeyId}.key`), 0o600);
        await b.server.service.resignIfDue(Date.now() + 3_600_000);
        expect(b.server.service.key.publicKey).to.equal(ann.next);
        expect(await readdir(join(b.dir, SIGNING_KEYS_DIR))).to.include(`${ann.nextKeyId}.key`);
        const m = await c.poll(0, { waitMs: 50 });
        expect(m?.signature.keyId).to.equal(ann.nextKeyId);
      } finally {
        await Promise.all([a.stop(), b.stop()]);
      }
    });
  },
);
