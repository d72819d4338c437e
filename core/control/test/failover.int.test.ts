/**
 * Integration test: two real `rustynet control serve` processes on one real PostgreSQL
 * database; a node's netmap source (the one rustynetd uses) knows both URLs and feeds the
 * daemon's trust pipeline. SIGKILL of the instance holding the node's long-poll costs one
 * reconnect to the other instance and no new map (nothing for the data plane to apply); the
 * next change reaches the node through the survivor. Prints the times; asserts no timing.
 */
import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FileStateStore, NetmapTrust, generateEd25519KeyPair } from '@rustynet/daemon';
import { AdminClient, ControlClient, ControlNetmapSource } from '../src/index.js';
import { ENGINES, freshDatabase, newClient } from './helpers.js';

const CLI = fileURLToPath(new URL('../../../cli/dist/src/bin/rustynet.js', import.meta.url));

async function serve(dataDir: string, database: string, keyFile?: string): Promise<{ child: ChildProcess; url: string }> {
  const args = [CLI, 'control', 'serve', '--listen', '127.0.0.1:0', '--data', dataDir, '--database', database, '--log-level', 'warn'];
  const child = spawn(process.execPath, [...args, ...(keyFile !== undefined ? ['--key-file', keyFile] : [])], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const url = await new Promise<string>((resolve, reject) => {
    let err = '';
    child.stderr?.on('data', (d: Buffer) => {
      err += d.toString();
      const m = /serving (http:\/\/[^ ]+) /.exec(err);
      if (m?.[1]) resolve(m[1]);
    });
    child.once('exit', (code) => reject(new Error(`server exited ${code}: ${err}`)));
  });
  return { child, url };
}

async function waitFor(what: string, cond: () => Promise<boolean> | boolean, timeoutMs = 20_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

async function waitingPolls(admin: AdminClient): Promise<number> {
  return ((await admin.call('GET', '/admin/v1/status')) as { waitingPolls: number }).waitingPolls;
}

(ENGINES.includes('postgres') ? describe : describe.skip)('control: two instances, daemon fail-over (integration)', function () {
  this.timeout(120_000);
  const children: ChildProcess[] = [];
  let dir: string;
  const onSigint = (): void => {
    for (const c of children) c.kill('SIGKILL');
  };
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'rn-control-failover-'));
    process.once('SIGINT', onSigint);
  });
  after(async () => {
    process.off('SIGINT', onSigint);
    onSigint();
    await rm(dir, { recursive: true, force: true });
  });

  it('SIGKILL of the polled instance: one reconnect, no map re-applied, next change via the survivor', async () => {
    const database = (await freshDatabase('postgres')) as string;
    const a = await serve(join(dir, 'a'), database);
    children.push(a.child);
    const b = await serve(join(dir, 'b'), database, join(dir, 'a', 'control-plane.key'));
    children.push(b.child);
    const adminA = new AdminClient(join(dir, 'a', 'admin.sock'));
    const adminB = new AdminClient(join(dir, 'b', 'admin.sock'));
    const key = ((await adminA.call('POST', '/admin/v1/keys', { reusable: true })) as { key: string }).key;
    const pub = ((await adminA.call('GET', '/admin/v1/status')) as { controlPlaneKey: string }).controlPlaneKey;

    const failovers: string[] = [];
    const client = new ControlClient({
      url: [a.url, b.url],
      identityKeyPem: generateEd25519KeyPair().privateKeyPem,
      onFailover: (from, to) => failovers.push(`${from} -> ${to}`),
    });
    await client.enrol({ authKey: key, name: 'daemon', keys: {} });
    // The daemon's side: the source hands new maps to the trust pipeline, which applies them.
    const trust = new NetmapTrust(pub, new FileStateStore(join(dir, 'daemon-state')));
    const applied: number[] = [];
    const errors: string[] = [];
    let ingest = Promise.resolve();
    const source = new ControlNetmapSource(client, {
      waitMs: 20_000,
      minRetryMs: 200,
      onUpdate: () => {
        ingest = ingest
          .then(async () => {
            const f = await source.fetch();
            if (!f.changed) return;
            const t = await trust.check(f.value);
            if (t.status === 'new') applied.push(t.netmap.version);
            await trust.commit(t);
          })
          .catch((err: unknown) => void errors.push(`ingest: ${String(err)}`));
      },
      onError: (err) => errors.push(err.message),
    });
    source.start();
    try {
      await waitFor('the first map', () => applied.length === 1);
      await waitFor('the poll held by instance A', async () => (await waitingPolls(adminA)) === 1);

      const t0 = Date.now();
      a.child.kill('SIGKILL');
      await waitFor('the poll held by instance B', async () => (await waitingPolls(adminB)) === 1);
      const reconnectMs = Date.now() - t0;
      await new Promise((r) => setTimeout(r, 500));
      expect(failovers, 'reconnects').to.deep.equal([`${a.url} -> ${b.url}`]);
      expect(errors, 'poll errors seen by the daemon').to.deep.equal([]);
      expect(applied, 'maps applied after the failover').to.have.length(1);
      const reapplied = applied.length - 1;

      const t1 = Date.now();
      await newClient(b.url).enrol({ authKey: key, name: 'other', keys: {} });
      await waitFor('the change via B', () => applied.length === 2);
      const changeMs = Date.now() - t1;
      await ingest;
      const wm = await trust.watermark.current();
      console.log(
        `      SIGKILL of instance A: ${failovers.length} reconnect, poll held by B after ${reconnectMs} ms, ` +
          `${reapplied} maps re-applied (watermark stayed v${applied[0]}); next change via B applied in ${changeMs} ms (v${wm?.version})`,
      );
      expect(wm?.version).to.be.greaterThan(applied[0]);
    } finally {
      await source.stop();
    }
  });
});
