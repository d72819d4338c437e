/**
 * Integration test (root): SIGTERM reaches rustynetd while it applies a 3000-peer netmap. The
 * daemon must stop within 5 s (STOP_BUDGET_MS) and leave nothing behind: no tunnel device, no
 * nftables policy table, no backend process, no socket. Prints what it measured.
 */
import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { Netmap, NetmapNode } from '@rustynet/plugin-api';
import { Mesh, pidRunning, sleep } from '@rustynet/testbed';
import { created, startMesh } from './mesh-fixture.js';

const BACKEND = '@rustynet/backend-wireguard';
const EXTRA_PEERS = 3000;
const STOP_BUDGET_MS = 5_000;

/** `count` peers that exist only in the netmap (addresses 100.96.0.0/12, endpoints in 198.19.0.0/16). */
function extraPeers(count: number, protocols: readonly string[]): NetmapNode[] {
  return Array.from({ length: count }, (_, i) => ({
    id: `x${i}`,
    addresses: [`100.${96 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}/32`],
    endpoints: [{ host: `198.19.${(i >> 8) & 255}.${i & 255}`, port: 51820 }],
    keys: Object.fromEntries(protocols.map((p) => [p, randomBytes(32).toString('base64')])),
    identityKey: randomBytes(32).toString('base64'),
  }));
}

describe('SIGTERM during a 3000-peer apply', function () {
  this.timeout(240_000);
  let mesh: Mesh | undefined;
  const m = (): Mesh => created(mesh);

  before(async function () {
    mesh = await startMesh(BACKEND, { policy: true, pollIntervalMs: 600_000, logLevel: 'info' });
  });

  after(async () => {
    await mesh?.destroy();
  });

  it('every daemon stops within 5 s and leaves no device, nft table, process or socket', async () => {
    const mesh = m();
    const protocols = Object.keys(mesh.node('a').keys);
    const big: Netmap = mesh.netmap(2);
    big.nodes.push(...extraPeers(EXTRA_PEERS, protocols));
    const signed = await mesh.sign(big);
    console.log(`      netmap of ${big.nodes.length} nodes: ${(JSON.stringify(signed).length / 1024).toFixed(0)} KiB`);
    await mesh.publish(
      signed,
      mesh.nodes.map((n) => n.id),
      { reload: false },
    );

    const pids = mesh.daemonPids();
    // SIGHUP: each daemon re-reads its netmap file and starts the big apply.
    for (const pid of Object.values(pids)) process.kill(pid, 'SIGHUP');
    await sleep(400);
    const t0 = Date.now();
    for (const pid of Object.values(pids)) process.kill(pid, 'SIGTERM');
    const stopped: Record<string, number> = {};
    while (Object.keys(stopped).length < Object.keys(pids).length && Date.now() - t0 < 30_000) {
      for (const [id, pid] of Object.entries(pids)) if (stopped[id] === undefined && !pidRunning(pid)) stopped[id] = Date.now() - t0;
      await sleep(20);
    }
    for (const n of mesh.nodes) {
      const log = await readFile(n.logFile, 'utf8').catch(() => '');
      const outcome = log.includes('"netmap apply failed') ? 'apply aborted' : log.includes('"msg":"netmap applied"') ? 'apply done' : '?';
      console.log(`      ${n.id}: stopped ${stopped[n.id] ?? 'NOT'} ms after SIGTERM (${outcome})`);
    }
    for (const n of mesh.nodes) expect(stopped[n.id], `${n.id} stop time (ms)`).to.be.a('number').and.below(STOP_BUDGET_MS);
    const left = await mesh.leftovers();
    console.log(`      leftovers: ${left.length === 0 ? 'none' : left.join('; ')}`);
    expect(left).to.deep.equal([]);
  });
});
