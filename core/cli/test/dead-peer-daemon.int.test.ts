/**
 * Integration test (root): a peer's daemon stops answering (kill -STOP of b's rustynetd) while
 * its data plane (wireguard-go) keeps running. a's direct-path probes to b fail, but a's tunnel
 * to b still receives traffic, so a keeps b on the direct path and traffic never stops. Before,
 * a moved b to the relay within 3 s, where b's frozen daemon could not answer. Prints what it
 * measured.
 */
import { expect } from 'chai';
import { fileURLToPath } from 'node:url';
import { Mesh, checkPrerequisites, sleep, type ContinuousPing } from '@rustynet/testbed';

const BACKEND = '@rustynet/backend-wireguard';
const REPO_ROOT = fileURLToPath(new URL('../../../../', import.meta.url));
/** How long b's daemon stays frozen: well past 3 misses (1.5 s) and a relay switch (3 s). */
const FROZEN_MS = 8_000;

describe("a dead peer daemon's peers stay direct while its tunnel works", function () {
  this.timeout(240_000);
  let mesh: Mesh | undefined;
  let pinger: ContinuousPing | undefined;
  let frozen: number | undefined;
  const m = (): Mesh => {
    if (!mesh) throw new Error('mesh not created (see the before-all hook error)');
    return mesh;
  };

  before(async function () {
    const problems = checkPrerequisites([BACKEND]);
    if (problems.length > 0) throw new Error(`prerequisites: ${problems.join('; ')}`);
    mesh = await Mesh.create({ backends: [BACKEND], cwd: REPO_ROOT, relay: true, logLevel: 'info' });
    await mesh.publish(await mesh.sign(mesh.netmap(1)));
    await mesh.startDaemons(BACKEND, 1);
  });

  after(async () => {
    if (frozen !== undefined) process.kill(frozen, 'SIGCONT');
    await pinger?.stop();
    await mesh?.destroy();
  });

  it('kill -STOP of b: a keeps b direct and the ping a -> b never stops', async () => {
    const mesh = m();
    const b = mesh.node('b');
    pinger = mesh.continuousPing('a', b.v4, 0.1);
    expect(await pinger.firstReplyAfter(Date.now(), 5_000), 'pings before the freeze').to.not.equal(null);
    const pid = mesh.daemonPids()['b'];
    if (pid === undefined) throw new Error('no daemon pid for b');
    process.kill(pid, 'SIGSTOP');
    frozen = pid;
    const t0 = Date.now();
    const paths = new Set<string>();
    while (Date.now() - t0 < FROZEN_MS) {
      const p = (await mesh.status('a')).peers.find((q) => q.id === 'b');
      paths.add(p?.path ?? 'missing');
      await sleep(250);
    }
    const replies = pinger.replies.filter((t) => t >= t0);
    let gap = 0;
    let prev = t0;
    for (const t of replies) {
      gap = Math.max(gap, t - prev);
      prev = t;
    }
    gap = Math.max(gap, Date.now() - prev);
    const log = await mesh.tail('a', 200);
    const held = log.includes('staying direct');
    console.log(
      `      b frozen ${FROZEN_MS} ms: a saw b on ${[...paths].join('/')}; ${replies.length} ping replies, longest gap ${gap} ms; hold logged: ${held}`,
    );
    expect([...paths]).to.deep.equal(['direct']);
    expect(gap, 'longest ping gap while b was frozen (ms)').to.be.below(1_000);
    process.kill(pid, 'SIGCONT');
    frozen = undefined;
    // b's daemon resumes: its probes answer again, nothing moved.
    await mesh.waitFor((_id, s) => s.state === 'up' && s.peers.every((p) => p.path === 'direct'), 'all direct after SIGCONT', 10_000);
  });
});
