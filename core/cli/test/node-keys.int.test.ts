/**
 * Integration test (root): node key rotation and node key expiry with real rustynetd processes
 * in namespaces, driven by a real control plane (`rustynet control serve`), WireGuard backend.
 *
 * - Rotation under traffic (WireGuard and OpenVPN): ping every 10 ms in both directions between
 *   a and b while `rustynet rotate-keys` runs on a; prints the longest gap between replies
 *   (target: at most one handshake's interruption, i.e. below WireGuard's 5 s handshake retry).
 * - Expiry: a short node key lifetime; b and c rotate before expiry (their lifetime restarts), a
 *   does not; prints the time from a's key expiry until b and c dropped it (and traffic stopped),
 *   then the time to recover after a new pre-auth key is written to a's authKeyFile.
 */
import { expect } from 'chai';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Mesh, checkPrerequisites, rustynet, sleep, type ContinuousPing } from '@rustynet/testbed';

const BACKEND = '@rustynet/backend-wireguard';
const REPO_ROOT = fileURLToPath(new URL('../../../../', import.meta.url));
/** WireGuard's REKEY_TIMEOUT: one handshake attempt (a lost initiation is retried after it). */
const ONE_HANDSHAKE_MS = 5_000;

interface RotateJson {
  nodeId: string;
  identityKey: string;
  keys: Record<string, string>;
  version: number;
  switchMs: number;
}

interface NodeListed {
  id: string;
  identityKey: string;
  expired: boolean;
  expiredBy?: string;
  keyExpiresAt?: string;
}

/** Longest gap (ms) between consecutive replies within [from, to]. */
function longestGap(replies: readonly number[], from: number, to: number): number {
  const r = replies.filter((t) => t >= from && t <= to);
  let gap = r.length === 0 ? to - from : Math.max(r[0] - from, to - r[r.length - 1]);
  for (let i = 1; i < r.length; i++) gap = Math.max(gap, r[i] - r[i - 1]);
  return gap;
}

async function rotate(mesh: Mesh, id: string): Promise<RotateJson> {
  return JSON.parse(await rustynet(['rotate-keys', '--socket', mesh.node(id).socket, '--json'], { cwd: REPO_ROOT })) as RotateJson;
}

async function listed(mesh: Mesh): Promise<NodeListed[]> {
  return ((await mesh.control?.admin(['nodes', 'list'])) as { nodes: NodeListed[] }).nodes;
}

/** What a failed assertion shows: each node's backend device and the last lines of its daemon log. */
async function diagnose(mesh: Mesh): Promise<string> {
  const parts: string[] = [];
  for (const n of mesh.nodes) {
    const links = await n.host.exec('ip', ['-br', 'link'], { reject: false }).catch((e: unknown) => ({ stdout: String(e) }));
    const wg = await n.host.exec('wg', ['show'], { reject: false }).catch((e: unknown) => ({ stdout: String(e) }));
    const tail = await mesh.tail(n.id, 40).catch((e: unknown) => String(e));
    parts.push(`\n--- ${n.id}: ip -br link ---\n${links.stdout}\n--- wg show ---\n${wg.stdout}\n${tail}`);
  }
  return parts.join('');
}

function meshHooks(backend: string, create: () => Promise<Mesh>): () => Mesh {
  let mesh: Mesh | undefined;
  const onSigint = (): void => {
    mesh?.emergencyStopSync();
    process.exit(130);
  };
  before(async function () {
    const problems = checkPrerequisites([backend]);
    if (problems.length > 0) throw new Error(`prerequisites: ${problems.join('; ')}`);
    process.once('SIGINT', onSigint);
    mesh = await create();
    await mesh.startDaemons(backend, undefined, 120_000);
  });
  after(async () => {
    process.off('SIGINT', onSigint);
    await mesh?.destroy();
  });
  return () => {
    if (!mesh) throw new Error('mesh not created (see the before-all hook error)');
    return mesh;
  };
}

/** Backends of the rotation test: `RUSTYNET_ROTATE_BACKENDS` (comma-separated), default both reference backends. */
const ROTATE_BACKENDS = (process.env['RUSTYNET_ROTATE_BACKENDS'] ?? `${BACKEND},@rustynet/backend-openvpn`)
  .split(',')
  .filter((b) => b !== '');

for (const backend of ROTATE_BACKENDS)
  describe(`node key rotation under traffic (${backend})`, function () {
    this.timeout(300_000);
    const m = meshHooks(backend, () =>
      Mesh.create({ backends: [backend], cwd: REPO_ROOT, nodes: ['a', 'b'], control: { pollTimeout: '20s', maxRetryMs: 1_000 } }),
    );

    it('rotates identity and backend key of a while a and b ping each other every 10 ms; prints the longest gap', async () => {
      const mesh = m();
      const [a, b] = [mesh.node('a'), mesh.node('b')];
      const idFile = join(a.keyDir, 'identity.key');
      const idBefore = await readFile(idFile, 'utf8');
      const before = (await listed(mesh)).find((n) => n.id === 'a');
      const pings: ContinuousPing[] = [mesh.continuousPing('a', b.v4, 0.01), mesh.continuousPing('b', a.v4, 0.01)];
      try {
        // Up to 30 s (was 10 s, missed twice on 2026-12-08 for a reason not yet known: the failure
        // message shows both devices and daemon logs); the rotation, not the start, is under test.
        const warm = await Promise.all(pings.map((p) => p.firstReplyAfter(Date.now(), 30_000)));
        expect(
          warm.every((t) => t !== null),
          `traffic flows before the rotation (first reply a->b ${warm[0]}, b->a ${warm[1]})${warm.includes(null) ? await diagnose(mesh) : ''}`,
        ).to.equal(true);
        await sleep(500);
        const t0 = Date.now();
        const r = await rotate(mesh, 'a');
        const tDone = Date.now();
        await sleep(6_000);
        const tEnd = Date.now();
        const gaps = pings.map((p) => longestGap(p.replies, t0 - 500, tEnd));
        const stillBack = await Promise.all(pings.map((p) => p.firstReplyAfter(tEnd - 1_000, 5_000)));
        console.log(
          `      rotate-keys on a: command ${tDone - t0} ms (data plane switched ${r.switchMs} ms after the request); ` +
            `longest reply gap a->b ${gaps[0]} ms, b->a ${gaps[1]} ms (ping every 10 ms)`,
        );
        expect(
          stillBack.every((t) => t !== null),
          'traffic flows after the rotation',
        ).to.equal(true);
        const longest = Math.max(...gaps);
        expect(longest, `longest gap: at most one handshake${longest > ONE_HANDSHAKE_MS ? await diagnose(mesh) : ''}`).to.be.at.most(
          ONE_HANDSHAKE_MS,
        );
        expect(r.nodeId).to.equal('a');
        expect(r.identityKey).to.not.equal(before?.identityKey);
        const after = (await listed(mesh)).find((n) => n.id === 'a');
        expect(after?.identityKey).to.equal(r.identityKey);
        expect(await readFile(idFile, 'utf8')).to.not.equal(idBefore);
        expect((await stat(idFile)).mode & 0o777).to.equal(0o600);
        const peerA = (await mesh.status('b')).peers.find((p) => p.id === 'a') as unknown as Record<string, unknown> | undefined;
        expect(peerA, 'b still has peer a').to.not.equal(undefined);
        expect(await mesh.findLeakedSecrets(), 'private keys in logs, command lines or environments').to.deep.equal([]);
      } finally {
        await Promise.all(pings.map((p) => p.stop()));
      }
    });

    it('a second rotation right after works too; traffic flows both ways', async () => {
      const mesh = m();
      const first = (await listed(mesh)).find((n) => n.id === 'a')?.identityKey;
      const r = await rotate(mesh, 'a');
      expect(r.identityKey).to.not.equal(first);
      const res = await mesh.pingMatrix(undefined, [
        ['a', 'b'],
        ['b', 'a'],
      ]);
      expect(res.filter((x) => !x.ok)).to.deep.equal([]);
    });
  });

describe(`node key expiry (${BACKEND})`, function () {
  this.timeout(300_000);
  const LIFETIME_S = 60;
  const m = meshHooks(BACKEND, () =>
    Mesh.create({
      backends: [BACKEND],
      cwd: REPO_ROOT,
      control: { pollTimeout: '20s', maxRetryMs: 1_000, nodeKeyLifetime: `${LIFETIME_S}s` },
    }),
  );

  it('drops a node whose key expired from the others; rotation before expiry keeps b and c; a new pre-auth key brings a back', async () => {
    const mesh = m();
    const ctl = mesh.control;
    if (!ctl) throw new Error('no control plane');
    const aExpires = Date.parse((await listed(mesh)).find((n) => n.id === 'a')?.keyExpiresAt ?? '');
    expect(Number.isFinite(aExpires), 'admin listing shows the key expiry').to.equal(true);
    // b and c rotate shortly before a's expiry: their lifetime restarts (a full one for the rest).
    await sleep(Math.max(0, aExpires - Date.now() - 8_000));
    await rotate(mesh, 'b');
    await rotate(mesh, 'c');
    const nodes = await listed(mesh);
    for (const id of ['b', 'c']) expect(Date.parse(nodes.find((n) => n.id === id)?.keyExpiresAt ?? '')).to.be.above(aExpires);
    const pings = [mesh.continuousPing('b', mesh.node('a').v4, 0.05), mesh.continuousPing('c', mesh.node('b').v4, 0.05)];
    try {
      expect(await pings[0].firstReplyAfter(Date.now(), 10_000), 'b reaches a before expiry').to.not.equal(null);
      console.log(`      a's key expires in ${aExpires - Date.now()} ms`);
      await sleep(Math.max(0, aExpires - Date.now()));
      await mesh.waitFor((id, s) => id === 'a' || !s.peers.some((p) => p.id === 'a'), 'without peer a', 30_000);
      const droppedMs = Date.now() - aExpires;
      await sleep(2_000);
      const lastReply = Math.max(0, ...pings[0].replies);
      const stillBC = await pings[1].firstReplyAfter(Date.now() - 500, 5_000);
      const aView = (await listed(mesh)).find((n) => n.id === 'a');
      console.log(
        `      a's key expired: b and c dropped peer a after ${droppedMs} ms; last reply from a ${lastReply - aExpires} ms after expiry; a listed ${aView?.expired ? `expired (${aView.expiredBy})` : 'active'}`,
      );
      expect(aView).to.deep.include({ expired: true, expiredBy: 'key-lifetime' });
      expect(droppedMs).to.be.at.most(10_000);
      expect(stillBC, 'c still reaches b').to.not.equal(null);
      const aOut = await readFile(mesh.node('a').outFile, 'utf8');
      expect(aOut, "a's log says why and what to do").to.match(/keys expired at .*authKeyFile/);
      // Re-authenticate: a new pre-auth key in a's authKeyFile.
      const t0 = Date.now();
      await ctl.createKeyFile(ctl.authKeyFile(mesh.node('a')));
      await mesh
        .waitFor((id, s) => id === 'a' || s.peers.some((p) => p.id === 'a'), 'with peer a again', 30_000)
        .catch(async (err: unknown) => {
          throw new Error(`${String(err)}\n--- a:\n${await readFile(mesh.node('a').outFile, 'utf8')}`);
        });
      const back = await pings[0].firstReplyAfter(t0, 30_000);
      console.log(
        `      new pre-auth key written: peers have a again after ${Date.now() - t0} ms; first reply b->a ${back === null ? 'never' : `${back - t0} ms`} after`,
      );
      expect(back).to.not.equal(null);
    } finally {
      await Promise.all(pings.map((p) => p.stop()));
    }
  });
});
