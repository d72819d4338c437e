/**
 * Integration test (root): control-plane signing-key rotation with real daemons in namespaces
 * and real traffic. a and b run through the whole rotation (announce, switch, retire) with pings
 * flowing both ways; c is stopped for the whole window, so `--switch` is refused naming it,
 * then forced. Prints the time from `--switch` until every running node applied a map signed by
 * the new key, the longest ping gap, and c's recovery: it refuses the new maps with the
 * re-pin instruction, the operator adds the key to its config and restarts it, it is back.
 */
import { expect } from 'chai';
import { readFile, writeFile } from 'node:fs/promises';
import { Mesh, checkPrerequisites, sleep } from '@rustynet/testbed';
import { REPO_ROOT, created } from './mesh-fixture.js';

const BACKEND = '@rustynet/backend-wireguard';

interface Status {
  phase: string;
  pending: string[];
  signingKey: string;
  state: { current: string | null; next: { publicKey: string } | null };
}

async function waitUntil(what: string, timeoutMs: number, fn: () => Promise<boolean>): Promise<number> {
  const t0 = Date.now();
  while (Date.now() - t0 < timeoutMs) {
    if (await fn()) return Date.now() - t0;
    await sleep(50);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

function maxGap(replies: number[], from: number, to: number): number {
  const r = replies.filter((t) => t >= from && t <= to).sort((x, y) => x - y);
  if (r.length === 0) return Infinity;
  let gap = Math.max(r[0] - from, to - r[r.length - 1]);
  for (let i = 1; i < r.length; i++) gap = Math.max(gap, r[i] - r[i - 1]);
  return gap;
}

describe(`control-plane signing-key rotation with real daemons (${BACKEND})`, function () {
  this.timeout(300_000);
  let mesh: Mesh | undefined;
  const onSigint = (): void => {
    mesh?.emergencyStopSync();
    process.exit(130);
  };

  before(async function () {
    process.once('SIGINT', onSigint);
    const problems = checkPrerequisites([BACKEND]);
    if (problems.length > 0) throw new Error(`prerequisites: ${problems.join('; ')}`);
    mesh = await Mesh.create({ backends: [BACKEND], cwd: REPO_ROOT, control: { maxRetryMs: 1_000 } });
    await mesh.startDaemons(BACKEND, undefined, 120_000);
  });

  after(async () => {
    process.off('SIGINT', onSigint);
    await mesh?.destroy();
  });

  it('rotates while nodes run: fresh maps and traffic throughout; a node that missed the window recovers by re-pinning', async () => {
    const m = created(mesh);
    const ctl = m.control;
    if (!ctl) throw new Error('no control plane');
    const rotate = async (...args: string[]): Promise<Record<string, unknown>> =>
      (await ctl.admin(['rotate-signing-key', ...args])) as Record<string, unknown>;
    const version = async (id: string): Promise<number> => (await m.status(id)).netmap?.version ?? 0;
    const [a, b] = [m.node('a'), m.node('b')];
    const oldKey = ((await rotate('--status')) as unknown as Status).signingKey;
    let next: string | undefined;

    await m.stopDaemon('c');
    const pings = [m.continuousPing('a', b.v4), m.continuousPing('b', a.v4)];
    try {
      const warm = await Promise.all(pings.map((p) => p.firstReplyAfter(Date.now(), 10_000)));
      expect(
        warm.every((t) => t !== null),
        'traffic flows before the rotation',
      ).to.equal(true);
      const tStart = Date.now();

      const ann = (await rotate('--announce')) as { next: string; version: number };
      next = ann.next;
      await waitUntil('a and b acknowledged the announcement', 20_000, async () => {
        const s = (await rotate('--status')) as unknown as Status;
        return s.pending.length === 1 && s.pending[0] === 'c';
      });
      let refused = '';
      await rotate('--switch').catch((err: unknown) => (refused = String(err)));
      console.log(`      --switch while c is away: ${refused.split('\n')[0]?.slice(0, 200)}`);
      expect(refused).to.include('KEY_ROTATION_PENDING').and.include('c');
      expect(((await rotate('--status')) as unknown as Status).phase, 'a refused switch changes nothing').to.equal('announced');

      const sw = (await rotate('--switch', '--force')) as { version: number; current: string; forcedPast: string[] };
      const tSwitch = Date.now();
      expect(sw.current).to.equal(ann.next);
      expect(sw.forcedPast).to.deep.equal(['c']);
      const applied: Record<string, number> = {};
      await waitUntil('a and b on the new key', 20_000, async () => {
        for (const id of ['a', 'b']) if (applied[id] === undefined && (await version(id)) >= sw.version) applied[id] = Date.now() - tSwitch;
        return Object.keys(applied).length === 2;
      });
      console.log(
        `      --switch -> every running node applied a map signed by the new key: a ${applied['a']} ms, b ${applied['b']} ms (max ${Math.max(applied['a'] ?? 0, applied['b'] ?? 0)} ms)`,
      );

      const ret = (await rotate('--retire')) as { version: number; retired: string };
      expect(ret.retired).to.equal(oldKey);
      await waitUntil(
        'a and b applied the retirement',
        20_000,
        async () => (await version('a')) >= ret.version && (await version('b')) >= ret.version,
      );
      const tEnd = Date.now();
      await sleep(1_000);
      const gaps = pings.map((p) => maxGap(p.replies, tStart, tEnd));
      console.log(`      rotation took ${tEnd - tStart} ms; longest ping gap a->b ${gaps[0]} ms, b->a ${gaps[1]} ms (pings every 100 ms)`);
      expect(Math.max(...gaps), 'traffic kept flowing during the rotation').to.be.at.most(1_500);
      for (const id of ['a', 'b']) expect((await m.status(id)).lastRejection, `${id} rejected nothing`).to.equal(null);
    } finally {
      await Promise.all(pings.map((p) => p.stop()));
    }

    // c missed the whole window: it comes back trusting only the old (now retired) key.
    const c = m.node('c');
    m.restartDaemon('c');
    const refusedIn = await waitUntil('c refuses the new maps', 60_000, async () => {
      const s = await m.status('c').catch(() => undefined);
      return s?.lastRejection?.code === 'NETMAP_SIGNATURE_INVALID';
    });
    const rejection = (await m.status('c')).lastRejection?.message ?? '';
    console.log(`      c (missed the window) after restart: refused in ${refusedIn} ms: ${rejection.slice(0, 160)}...`);
    expect(rejection).to.include('controlPlaneKeys').and.include('key-rotation.md');

    // Recovery: the operator pins the new key in c's config and restarts it.
    const cfg = JSON.parse(await readFile(c.configFile, 'utf8')) as Record<string, unknown>;
    await writeFile(c.configFile, `${JSON.stringify({ ...cfg, controlPlaneKeys: [next ?? ''] }, null, 2)}\n`, { mode: 0o600 });
    await m.stopDaemon('c');
    const tRepin = Date.now();
    m.restartDaemon('c');
    const target = await version('a');
    await waitUntil('c up on the new key', 60_000, async () => {
      const s = await m.status('c').catch(() => undefined);
      return s?.state === 'up' && (s.netmap?.version ?? 0) >= target;
    });
    const back = await m.pingMatrix(undefined, [
      ['a', 'c'],
      ['c', 'b'],
    ]);
    console.log(
      `      c re-pinned: fresh map applied ${Date.now() - tRepin} ms after its restart; pings ${back.filter((r) => r.ok).length}/${back.length}`,
    );
    expect(back.filter((r) => !r.ok)).to.deep.equal([]);
  });
});
