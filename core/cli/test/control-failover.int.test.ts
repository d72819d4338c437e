/**
 * Integration test (root): fail-over between two control instances on one PostgreSQL with real
 * rustynetd processes in namespaces. Both instances run on the control host (the database is
 * reached through its unix socket, which no network namespace hides); every daemon knows both
 * URLs (`netmap.control.urls`). With pings flowing both ways, the instance holding the daemons'
 * long-polls is SIGKILLed. Shows: each daemon reconnects once (to the standby), no new map is
 * applied (the data plane does not change), traffic goes on (the longest gap between ping
 * replies is printed and bounded), and an admin change made through the survivor reaches every
 * daemon (time printed). The audit log written by both instances still verifies.
 */
import { expect } from 'chai';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Mesh, checkPrerequisites, sleep, type ContinuousPing } from '@rustynet/testbed';
import { AdminClient } from '@rustynet/control';
import { REPO_ROOT } from './mesh-fixture.js';
import { socketDatabase } from './pg-socket.js';

const BACKEND = '@rustynet/backend-wireguard';

async function waitingPolls(admin: AdminClient): Promise<number> {
  return ((await admin.call('GET', '/admin/v1/status')) as { waitingPolls: number }).waitingPolls;
}

/** Longest time between consecutive replies in [from, to] (ms), counting the edges. */
function longestGap(replies: readonly number[], from: number, to: number): number {
  const ts = [from, ...replies.filter((t) => t > from && t < to), to];
  let gap = 0;
  for (let i = 1; i < ts.length; i++) gap = Math.max(gap, (ts[i] ?? 0) - (ts[i - 1] ?? 0));
  return gap;
}

async function switches(file: string): Promise<number> {
  const text = await readFile(file, 'utf8').catch(() => '');
  return text.split('\n').filter((l) => l.includes('unreachable') && l.includes('switching to')).length;
}

describe(`control fail-over with data-plane daemons (${BACKEND}, PostgreSQL)`, function () {
  this.timeout(300_000);
  let mesh: Mesh | undefined;
  const onSigint = (): void => {
    mesh?.emergencyStopSync();
    process.exit(130);
  };

  before(async () => {
    const problems = checkPrerequisites([BACKEND]);
    if (problems.length > 0) throw new Error(`prerequisites: ${problems.join('; ')}`);
    process.once('SIGINT', onSigint);
    const database = (await socketDatabase()).url;
    mesh = await Mesh.create({
      backends: [BACKEND],
      nodes: ['a', 'b', 'c'],
      cwd: REPO_ROOT,
      control: { database, standby: true, netmapLifetime: '10m', pollTimeout: '20s', maxRetryMs: 1_000 },
    });
  });
  after(async () => {
    process.off('SIGINT', onSigint);
    await mesh?.destroy();
  });

  it('SIGKILL of the polled instance: one reconnect per daemon, no data-plane change, next change via the survivor', async () => {
    if (!mesh) throw new Error('mesh not created (see the before-all hook error)');
    const m = mesh;
    const ctl = m.control;
    if (!ctl) throw new Error('no control plane');
    await ctl.start();
    await ctl.startStandby();
    await m.startDaemons(BACKEND, undefined, 120_000);
    const primary = new AdminClient(join(ctl.dataDir, 'admin.sock'));
    const standby = new AdminClient(join(ctl.standbyDataDir, 'admin.sock'));
    const n = m.nodes.length;
    const deadline = Date.now() + 30_000;
    while ((await waitingPolls(primary)) < n && Date.now() < deadline) await sleep(100);
    expect(await waitingPolls(primary), 'every daemon polls the primary').to.equal(n);
    const [a, b, c] = [m.node('a'), m.node('b'), m.node('c')];
    const pings: ContinuousPing[] = [m.continuousPing('a', b.v4), m.continuousPing('b', c.v4), m.continuousPing('c', a.v4)];
    try {
      const warm = await Promise.all(pings.map((p) => p.firstReplyAfter(Date.now(), 15_000)));
      expect(
        warm.every((t) => t !== null),
        'traffic flows before the kill',
      ).to.equal(true);
      const before: Record<string, number> = {};
      for (const x of m.nodes) before[x.id] = (await m.status(x.id)).netmap?.version ?? 0;
      const switchesBefore = await Promise.all(m.nodes.map((x) => switches(x.outFile)));
      const window0 = Date.now();
      await sleep(1_000);

      const t0 = Date.now();
      await ctl.kill('primary');
      while ((await waitingPolls(standby)) < n && Date.now() - t0 < 30_000) await sleep(50);
      const reconnectMs = Date.now() - t0;
      expect(await waitingPolls(standby), 'every daemon polls the standby').to.equal(n);
      await sleep(3_000);
      const window1 = Date.now();
      const switched = (await Promise.all(m.nodes.map((x) => switches(x.outFile)))).map((s, i) => s - (switchesBefore[i] ?? 0));
      const after: Record<string, number> = {};
      for (const x of m.nodes) after[x.id] = (await m.status(x.id)).netmap?.version ?? 0;
      const gaps = pings.map((p) => longestGap(p.replies, window0, window1));

      const t1 = Date.now();
      await standby.call('POST', '/admin/v1/nodes/a/tags', { tags: ['after-failover'] });
      await m.waitFor((id, s) => (s.netmap?.version ?? 0) > (after[id] ?? Infinity), 'the change made via the standby', 20_000);
      const changeMs = Date.now() - t1;
      const status = (await standby.call('GET', '/admin/v1/status')) as { version: number };

      console.log(
        `      SIGKILL of the primary: reconnects per daemon ${m.nodes.map((x, i) => `${x.id} ${switched[i]}`).join(', ')}; ` +
          `every poll held by the standby after ${reconnectMs} ms; netmap versions unchanged: ` +
          `${m.nodes.every((x) => after[x.id] === before[x.id])} (v${before['a']}); longest ping gap ${Math.max(...gaps)} ms ` +
          `(${gaps.join('/')} ms); admin change via the standby applied by every daemon in ${changeMs} ms (v${status.version})`,
      );
      expect(switched, 'reconnects per daemon').to.deep.equal(m.nodes.map(() => 1));
      expect(after, 'no new map applied: the data plane did not change').to.deep.equal(before);
      expect(Math.max(...gaps), 'longest gap between ping replies (ms) around the kill').to.be.below(1_000);
    } finally {
      await Promise.all(pings.map((p) => p.stop()));
    }
    const verify = (await ctl.admin(['audit', 'verify', '--key-file', m.cpKeyFile, '--database', ctl.opts.database ?? ''])) as {
      ok: boolean;
    };
    expect(verify.ok, 'the audit log both instances wrote verifies').to.equal(true);
  });
});
