/**
 * Integration test (root): a peer's daemon stops answering while its data plane keeps running,
 * for each reference backend and two faults: b's rustynetd frozen (`kill -STOP`) and b's
 * rustynetd killed (`kill -9`; its wireguard-go / openvpn processes live on as orphans). a's
 * direct-path probes to b fail, but a's tunnel to b still receives traffic, so a keeps b on the
 * direct path and traffic never stops (and a relayed probe could not be answered either: b's
 * relay client is part of the dead daemon). Before, a moved b to the relay within 3 s, where b's
 * dead daemon could not answer. Prints the paths seen and the longest ping gap.
 */
import { expect } from 'chai';
import { Mesh, REFERENCE_BACKENDS, sleep, type ContinuousPing } from '@rustynet/testbed';
import { created, startMesh } from './mesh-fixture.js';

/** How long b's daemon stays dead: well past 3 misses (1.5 s) and a relay switch (3 s). */
const DEAD_MS = 8_000;

for (const backend of REFERENCE_BACKENDS) {
  describe(`a dead peer daemon's peers stay direct while its tunnel works (${backend})`, function () {
    this.timeout(240_000);
    let mesh: Mesh | undefined;
    let pinger: ContinuousPing | undefined;
    let frozen: number | undefined;
    const m = (): Mesh => created(mesh);

    before(async function () {
      mesh = await startMesh(backend, { relay: true, logLevel: 'info' });
    });

    afterEach(async () => {
      if (frozen !== undefined) process.kill(frozen, 'SIGCONT');
      frozen = undefined;
      await pinger?.stop();
      pinger = undefined;
    });

    after(async () => {
      await mesh?.destroy();
    });

    /**
     * Pings a -> b every 100 ms while `fault` has b's daemon dead for {@link DEAD_MS}; polls a's
     * path for b. @returns the paths seen and the longest gap between ping replies (ms).
     */
    async function whileDead(fault: (pid: number) => Promise<void>): Promise<{ paths: string[]; gap: number; replies: number }> {
      const mesh = m();
      const b = mesh.node('b');
      await mesh.waitFor((_id, s) => s.state === 'up' && s.peers.every((p) => p.path === 'direct'), 'all direct', 30_000);
      pinger = mesh.continuousPing('a', b.v4, 0.1);
      expect(await pinger.firstReplyAfter(Date.now(), 10_000), 'pings before the fault').to.not.equal(null);
      const pid = mesh.daemonPids()['b'];
      if (pid === undefined) throw new Error('no daemon pid for b');
      await fault(pid);
      const t0 = Date.now();
      const paths = new Set<string>();
      while (Date.now() - t0 < DEAD_MS) {
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
      await pinger.stop();
      pinger = undefined;
      return { paths: [...paths], gap, replies: replies.length };
    }

    function report(what: string, r: { paths: string[]; gap: number; replies: number }, log: string): void {
      console.log(
        `      ${what} ${DEAD_MS} ms: a saw b on ${r.paths.join('/')}; ${r.replies} ping replies, longest gap ${r.gap} ms; hold logged: ${log.includes('staying direct')}`,
      );
    }

    it('kill -STOP of b: a keeps b direct and the ping a -> b never stops', async () => {
      const mesh = m();
      const r = await whileDead(async (pid) => {
        process.kill(pid, 'SIGSTOP');
        frozen = pid;
      });
      report('b frozen', r, await mesh.tail('a', 300));
      expect(r.paths).to.deep.equal(['direct']);
      expect(r.gap, 'longest ping gap while b was frozen (ms)').to.be.below(1_000);
      process.kill(frozen!, 'SIGCONT');
      frozen = undefined;
      // b's daemon resumes: its probes answer again, nothing moved.
      await mesh.waitFor((_id, s) => s.state === 'up' && s.peers.every((p) => p.path === 'direct'), 'all direct after SIGCONT', 10_000);
    });

    it('kill -9 of b (its tunnel processes live on): a keeps b direct and the ping a -> b never stops', async () => {
      const mesh = m();
      const r = await whileDead(async () => {
        await mesh.killDaemon('b');
      });
      report('b killed', r, await mesh.tail('a', 300));
      expect(r.paths).to.deep.equal(['direct']);
      expect(r.gap, 'longest ping gap while b was dead (ms)').to.be.below(1_000);
      // b's daemon comes back (it replaces its orphaned data plane): everything direct again.
      mesh.restartDaemon('b');
      await mesh.waitFor((_id, s) => s.state === 'up' && s.peers.every((p) => p.path === 'direct'), 'all direct after the restart', 60_000);
    });
  });
}
