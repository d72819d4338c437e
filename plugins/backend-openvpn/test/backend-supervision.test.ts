/**
 * Unit tests of the backend's supervision against a recording fake runner: stats, restarts of
 * crashed instances, failed ip calls, stale devices and teardown.
 */
import { expect } from 'chai';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { OpenVpnBackend } from '../src/backend.js';
import { KEY_FILE } from '../src/keys.js';
import { makeContext } from './support/context.js';
import { failure, off, peer, useFakeBackend } from './support/backend-fixture.js';

describe('OpenVpnBackend supervision (fake runner)', () => {
  const t = useFakeBackend();

  it('reports stats from the management interface', async () => {
    await t.backend.start(t.startCfg());
    await t.backend.applyPeers({ upsert: [peer('a', 1)], remove: [] });
    const s = await t.backend.stats();
    expect(s.peers).to.deep.equal([
      {
        id: 'a',
        endpoint: { host: '198.18.0.1', port: 51000 },
        lastHandshakeAt: 1700000000000,
        rxBytes: 2000,
        txBytes: 1000,
        state: 'up',
        localPort: 51000 + off('100.64.0.1'),
      },
    ]);
  });

  it('restarts a crashed instance and reports restarting meanwhile', async () => {
    t.backend = new OpenVpnBackend(
      makeContext({
        runner: t.runner,
        stateDir: join(t.root, 'state2'),
        logger: t.logger,
        options: { restartBackoffMs: 60_000, restartBackoffMaxMs: 600_000 },
      }),
    );
    await t.backend.start(t.startCfg());
    await t.backend.applyPeers({ upsert: [peer('a', 1)], remove: [] });
    t.runner.processes[0].crash();
    await t.runner.processes[0].exited;
    await new Promise((r) => setImmediate(r));
    expect((await t.backend.stats()).peers[0].state).to.equal('restarting');
    expect(t.backend.instances()[0].restarts).to.equal(1);
    expect(t.logger.records.some((r) => r.level === 'warn' && r.msg?.includes('restarting'))).to.equal(true);
    // stop cancels the pending restart.
    await t.backend.stop();
    expect(t.runner.processes).to.have.length(1);
  });

  it('brings a crashed instance back after the backoff', async () => {
    await t.backend.start(t.startCfg());
    await t.backend.applyPeers({ upsert: [peer('a', 1)], remove: [] });
    t.runner.processes[0].crash();
    await t.runner.spawned(2);
    const ready = async (): Promise<void> => {
      while (t.backend.instances()[0].state !== 'running') await new Promise((r) => setImmediate(r));
    };
    await ready();
    expect(t.runner.processes[1].configPath).to.equal(t.runner.processes[0].configPath);
    expect((await t.backend.stats()).peers[0].state).to.equal('up');
  });

  it('reports BACKEND_FAILED when ip fails and leaves no half-made peer', async () => {
    await t.backend.start(t.startCfg());
    t.runner.failIp = /tuntap add/;
    const err = await failure(t.backend.applyPeers({ upsert: [peer('a', 1)], remove: [] }));
    expect(err.code).to.equal('BACKEND_FAILED');
    expect((await t.backend.stats()).peers).to.deep.equal([]);
    expect(t.runner.processes).to.have.length(0);
    t.runner.failIp = undefined;
    await t.backend.applyPeers({ upsert: [peer('a', 1)], remove: [] });
    expect((await t.backend.stats()).peers).to.have.length(1);
  });

  it('removes stale devices of an earlier run at start', async () => {
    t.runner.extraLinks = ['7: rn0p3: <POINTOPOINT>', '8: rn0p3x: <POINTOPOINT>', '9: other0: <BROADCAST>'];
    await t.backend.start(t.startCfg());
    const del = t.runner.calls.find((c) => c.file === 'ip' && c.input?.includes('tuntap del'));
    expect(del?.input).to.equal('tuntap del dev rn0p3 mode tun\n');
  });

  it('stop kills every instance, deletes every device and removes its files', async () => {
    await t.backend.start(t.startCfg());
    await t.backend.applyPeers({ upsert: [peer('a', 1), peer('c', 3)], remove: [] });
    const confDir = join(t.root, 'state', 'openvpn');
    expect(existsSync(confDir)).to.equal(true);
    await t.backend.stop();
    expect(t.runner.processes.every((p) => !p.alive)).to.equal(true);
    const last = t.runner.calls.filter((c) => c.file === 'ip').at(-1)!;
    expect(last.args).to.deep.equal(['-force', '-batch', '-']);
    expect(last.input).to.equal('tuntap del dev rn0p0 mode tun\ntuntap del dev rn0p1 mode tun\n');
    expect(existsSync(confDir)).to.equal(false);
    // Nothing secret was logged.
    const key = readFileSync(join(t.keyDir, KEY_FILE), 'utf8').split('\n')[1];
    expect(JSON.stringify(t.logger.records)).to.not.include(key.slice(0, 40));
  });
});
