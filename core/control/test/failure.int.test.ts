/**
 * Failure story of the control plane (design brief, fault model): SIGKILL mid-write, full disk.
 * Integration tests: a real server process, real SQLite files; they print times, assert none.
 */
import { expect } from 'chai';
import Database from 'better-sqlite3';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { verifySignedNetmap } from '@rustynet/daemon';
import { isRustynetError } from '@rustynet/plugin-api';
import { AdminClient, ControlClient } from '../src/index.js';
import { createKey, newClient, startHarness } from './helpers.js';

const CLI = fileURLToPath(new URL('../../../cli/dist/src/bin/rustynet.js', import.meta.url));

async function startProcess(dataDir: string): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, [CLI, 'control', 'serve', '--listen', '127.0.0.1:0', '--data', dataDir], {
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

function killHard(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    if (child.pid !== undefined) process.kill(child.pid, 'SIGKILL');
  });
}

describe('control: failure story (integration)', function () {
  this.timeout(120_000);

  it('SIGKILL mid-write: consistent database, acknowledged nodes kept, versions above all served', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'rn-control-kill-'));
    const dataDir = join(dir, 'data');
    try {
      let { child, url } = await startProcess(dataDir);
      const admin = new AdminClient(join(dataDir, 'admin.sock'));
      const key = ((await admin.call('POST', '/admin/v1/keys', { reusable: true })) as { key: string }).key;
      const acknowledged: string[] = [];
      let maxServed = 0;
      let stop = false;
      const worker = async (w: number): Promise<void> => {
        for (let i = 0; !stop; i++) {
          try {
            const c = newClient(url);
            const r = await c.enrol({
              authKey: key,
              name: `w${w}-${i}`,
              keys: { p: `k${i}` },
              endpoints: [{ host: '198.18.0.1', port: 1000 + i }],
            });
            acknowledged.push(r.node.id);
            const m = await c.poll(0, { waitMs: 0 });
            if (m) maxServed = Math.max(maxServed, m.netmap.version);
          } catch {
            return;
          }
        }
      };
      const workers = Array.from({ length: 8 }, (_, w) => worker(w));
      await new Promise((r) => setTimeout(r, 1500));
      const t0 = Date.now();
      await killHard(child);
      stop = true;
      await Promise.all(workers);
      console.log(`      killed after ${acknowledged.length} acknowledged enrolments (max served version ${maxServed})`);
      const db = new Database(join(dataDir, 'control.db'));
      expect(db.pragma('integrity_check', { simple: true })).to.equal('ok');
      const ids = new Set((db.prepare('select id from nodes').all() as Array<{ id: string }>).map((r) => r.id));
      db.close();
      for (const id of acknowledged) expect(ids.has(id), id).to.equal(true);
      ({ child, url } = await startProcess(dataDir));
      console.log(`      restarted in ${Date.now() - t0} ms`);
      const c = newClient(url);
      await c.enrol({ authKey: key, name: 'after', keys: {} });
      const pub = ((await (await fetch(`${url}/v1/key`)).json()) as { publicKey: string }).publicKey;
      const nm = verifySignedNetmap(await c.poll(0), pub);
      expect(nm.version).to.be.greaterThan(maxServed);
      const addrs = nm.nodes.flatMap((n) => n.addresses);
      expect(new Set(addrs).size).to.equal(addrs.length);
      await killHard(child);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('full disk: STORAGE_FAILED, no half-stored node, and it recovers when space returns', async function () {
    const dir = await mkdtemp(join(tmpdir(), 'rn-control-full-'));
    const mounted = process.getuid?.() === 0 && spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=1m,mode=0700', 'tmpfs', dir]).status === 0;
    if (!mounted) {
      await rm(dir, { recursive: true, force: true });
      this.skip();
    }
    try {
      const h = await startHarness({}, join(dir, 'data'));
      try {
        const key = await createKey(h.admin, { reusable: true });
        await newClient(h.server.url).enrol({ authKey: key, name: 'before', keys: {} });
        const filler = join(dir, 'filler');
        await mkdir(dir, { recursive: true });
        await writeFile(filler, Buffer.alloc(2 * 1024 * 1024)).catch(() => undefined);
        const before = (await h.admin.call('GET', '/admin/v1/nodes')) as { nodes: unknown[]; version: number };
        const err = await newClient(h.server.url)
          .enrol({ authKey: key, name: 'full', keys: { p: 'x'.repeat(4000) } })
          .catch((e: unknown) => e);
        expect(isRustynetError(err, 'STORAGE_FAILED'), String(err)).to.equal(true);
        const after = (await h.admin.call('GET', '/admin/v1/nodes')) as { nodes: unknown[] };
        expect(after.nodes).to.have.length(before.nodes.length);
        await rm(filler);
        const ok = await new ControlClient({
          url: h.server.url,
          identityKeyPem: (await import('@rustynet/daemon')).generateEd25519KeyPair().privateKeyPem,
        }).enrol({ authKey: key, name: 'full', keys: {} });
        expect(ok.node.id).to.equal('full');
        const db = new Database(join(dir, 'data', 'control.db'), { readonly: true });
        expect(db.pragma('integrity_check', { simple: true })).to.equal('ok');
        db.close();
      } finally {
        await h.stop();
      }
    } finally {
      spawnSync('umount', [dir]);
      await rm(dir, { recursive: true, force: true });
    }
  });
});
