/**
 * Crash-consistent apply with an in-test backend: a commit that cannot be written rolls the data
 * plane back and answers STATE_WRITE_FAILED; the intent is gone afterwards; a restart applies a
 * newer unfinished intent before the (older) source, so it never re-applies an older state.
 */
import { expect } from 'chai';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Netmap } from '@rustynet/plugin-api';
import { Daemon, type DaemonConfig, type DaemonStatus } from '../src/index.js';
import { makeNetmap, testServices } from './helpers.js';
import { fileFlowRig } from './file-flow-rig.js';

describe('crash-consistent apply', function () {
  this.timeout(20000);
  const { stateDir, sign, publish, post, status, baseConfig } = fileFlowRig('rn-crash-', 'rc');
  const coreState = join(stateDir, 'daemon');
  let config: DaemonConfig;
  let daemon: Daemon | undefined;

  const nm1 = makeNetmap(3, 1);
  const nm2: Netmap = { ...structuredClone(nm1), version: 2, nodes: structuredClone(nm1.nodes).filter((n) => n.id !== 'n2') };
  const nm3: Netmap = { ...structuredClone(nm2), version: 3 };

  const peerIds = (s: DaemonStatus): string[] => s.peers.map((p) => p.id).sort();

  before(async () => {
    publish(nm1);
    config = await baseConfig();
    daemon = new Daemon(config, { services: testServices(stateDir) });
    await daemon.start();
  });

  after(async () => {
    await daemon?.stop();
  });

  it('a commit that cannot be written rolls the data plane back and answers STATE_WRITE_FAILED', async () => {
    expect(peerIds(await status())).to.deep.equal(['n1', 'n2']);
    // The last good netmap's path is taken by a directory: its atomic rename must fail.
    const lastGood = join(coreState, 'last-good-netmap.json');
    rmSync(lastGood, { force: true });
    mkdirSync(lastGood);
    publish(nm2);
    const r = await post('/v1/netmap/reload');
    const answer = r.json as { result: string; error?: { code: string } };
    expect(answer.result).to.equal('failed');
    expect(answer.error?.code).to.equal('STATE_WRITE_FAILED');
    const s = await status();
    expect(s.netmap?.version, 'the record stays').to.equal(1);
    expect(peerIds(s), 'the data plane is rolled back to the record').to.deep.equal(['n1', 'n2']);
    expect(s.lastRejection?.code).to.equal('STATE_WRITE_FAILED');
    expect(existsSync(join(coreState, 'netmap-intent.json')), 'no intent left behind').to.equal(false);
    rmSync(lastGood, { recursive: true, force: true });
  });

  it('once the disk works again the same netmap applies and is recorded', async () => {
    const r = await post('/v1/netmap/reload');
    expect((r.json as { result: string }).result).to.equal('applied');
    const s = await status();
    expect(s.netmap?.version).to.equal(2);
    expect(peerIds(s)).to.deep.equal(['n1']);
  });

  it('a restart applies a newer unfinished intent before an older source: nothing older comes back', async () => {
    await daemon?.stop();
    // A crash between the data plane and the commit of version 3 leaves its intent behind;
    // the source still holds version 2.
    writeFileSync(join(coreState, 'netmap-intent.json'), sign(nm3), { mode: 0o600 });
    daemon = new Daemon(config, { services: testServices(stateDir) });
    await daemon.start();
    const s = await status();
    expect(s.state).to.equal('up');
    expect(s.netmap?.version).to.equal(3);
    expect(peerIds(s)).to.deep.equal(['n1']);
    expect(existsSync(join(coreState, 'netmap-intent.json'))).to.equal(false);
  });
});
