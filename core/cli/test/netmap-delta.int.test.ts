/**
 * Integration test (root): signed netmap deltas reaching real rustynetd processes (WireGuard, in
 * namespaces), from the control plane (long-poll with delta=1) and from the file flow
 * (netmap.deltaFile); a broken delta makes the daemon fetch the full map. Real pings prove the
 * data plane after each step.
 */
import { expect } from 'chai';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { computeNetmapDelta, readPrivateKeyFile, signNetmapDelta } from '@rustynet/daemon';
import type { Netmap } from '@rustynet/plugin-api';
import { Mesh, checkPrerequisites, sleep, writeNetmapFile, type PingResult } from '@rustynet/testbed';

const BACKEND = '@rustynet/backend-wireguard';
const PROTOCOL = 'wireguard';
const REPO_ROOT = fileURLToPath(new URL('../../../../', import.meta.url));

function failed(results: PingResult[]): string[] {
  return results.filter((r) => !r.ok).map((r) => `${r.from}->${r.to} ${r.address}`);
}

/** The last audit record of `type` of node `dir`. */
async function lastAudit(dir: string, type: string): Promise<{ data?: Record<string, unknown> } | undefined> {
  const text = await readFile(join(dir, 'state', PROTOCOL, 'audit.log'), 'utf8').catch(() => '');
  const lines = text.trimEnd().split('\n').filter(Boolean);
  for (let i = lines.length - 1; i >= 0; i--) {
    const r = JSON.parse(lines[i]) as { type: string; data?: Record<string, unknown> };
    if (r.type === type) return r;
  }
  return undefined;
}

function meshTest(name: string, create: () => Promise<Mesh>, body: (m: () => Mesh) => void): void {
  describe(name, function () {
    this.timeout(300_000);
    let mesh: Mesh | undefined;
    const m = (): Mesh => {
      if (!mesh) throw new Error('mesh not created (see the before-all hook error)');
      return mesh;
    };
    const onSigint = (): void => {
      mesh?.emergencyStopSync();
      process.exit(130);
    };
    before(async () => {
      const problems = checkPrerequisites([BACKEND]);
      if (problems.length > 0) throw new Error(`prerequisites: ${problems.join('; ')}`);
      process.once('SIGINT', onSigint);
      mesh = await create();
    });
    after(async () => {
      process.off('SIGINT', onSigint);
      await mesh?.destroy();
    });
    body(m);
  });
}

meshTest(
  'netmap deltas from the control plane reach real daemons',
  () => Mesh.create({ backends: [BACKEND], nodes: ['a', 'b'], cwd: REPO_ROOT, control: { pollTimeout: '20s', maxRetryMs: 1_000 } }),
  (m) => {
    it('a change after enrolment is applied from a signed delta; the mesh still carries pings', async () => {
      const mesh = m();
      await mesh.startDaemons(BACKEND, undefined, 120_000);
      const before: Record<string, number> = {};
      for (const n of mesh.nodes) before[n.id] = (await mesh.status(n.id)).netmap?.version ?? 0;
      await mesh.control!.setAcl({ rules: [{ id: 'all', action: 'accept', src: ['*'], dst: ['*'], proto: 'any' }] });
      const t0 = Date.now();
      for (const n of mesh.nodes)
        while (((await mesh.status(n.id)).netmap?.version ?? 0) <= before[n.id] && Date.now() - t0 < 15_000) await sleep(25);
      for (const n of mesh.nodes) {
        const accepted = await lastAudit(n.dir, 'netmap.accepted');
        console.log(`      ${n.id}: version ${String(accepted?.data?.['version'])} accepted from ${String(accepted?.data?.['origin'])}`);
        expect(accepted?.data?.['origin'], `${n.id} applied the change from a delta`).to.equal('delta');
      }
      expect(failed(await mesh.pingMatrix())).to.deep.equal([]);
    });
  },
);

meshTest(
  'netmap deltas through the file flow (netmap.deltaFile) reach real daemons',
  () => Mesh.create({ backends: [BACKEND], nodes: ['a', 'b'], cwd: REPO_ROOT, netmapDeltaFile: true, pollIntervalMs: 3_600_000 }),
  (m) => {
    let current: Netmap;
    /** Writes `delta` (a signed delta or any text) to every delta file, then the full map, and reloads. */
    async function publish(next: Netmap, delta: unknown): Promise<void> {
      const mesh = m();
      for (const n of mesh.nodes) await writeNetmapFile(`${n.netmapFile}.delta`, typeof delta === 'string' ? delta : JSON.stringify(delta));
      const errors = await mesh.publish(await mesh.sign(next));
      expect(Object.values(errors).filter(Boolean)).to.deep.equal([]);
      current = next;
    }

    it('applies a signed delta; pings pass', async () => {
      const mesh = m();
      current = mesh.netmap(1);
      await mesh.publish(await mesh.sign(current), undefined, { reload: false });
      await mesh.startDaemons(BACKEND, 1);
      const pem = await readPrivateKeyFile(mesh.cpKeyFile);
      const next = mesh.netmap(2, { names: { b: 'bee' } });
      await publish(next, signNetmapDelta(computeNetmapDelta(current, next)!, pem));
      for (const n of mesh.nodes) {
        expect((await mesh.status(n.id)).netmap?.version).to.equal(2);
        expect((await lastAudit(n.dir, 'netmap.accepted'))?.data?.['origin']).to.equal('delta');
      }
      expect(failed(await mesh.pingMatrix())).to.deep.equal([]);
    });

    it('a broken delta (wrong digest, then not JSON) makes the daemon apply the full map; pings pass', async () => {
      const mesh = m();
      const pem = await readPrivateKeyFile(mesh.cpKeyFile);
      const v3 = mesh.netmap(3, { names: { b: 'bee3' } });
      await publish(v3, signNetmapDelta({ ...computeNetmapDelta(current, v3)!, digest: 'f'.repeat(64) }, pem));
      for (const n of mesh.nodes) {
        const s = await mesh.status(n.id);
        expect(s.netmap?.version).to.equal(3);
        expect(s.lastRejection?.code).to.equal('NETMAP_DELTA_INAPPLICABLE');
        expect((await lastAudit(n.dir, 'netmap.accepted'))?.data?.['origin']).to.equal('source');
      }
      await publish(mesh.netmap(4), '{"delta": ');
      for (const n of mesh.nodes) expect((await mesh.status(n.id)).netmap?.version).to.equal(4);
      expect(failed(await mesh.pingMatrix())).to.deep.equal([]);
    });
  },
);
