/**
 * Integration test (root, wireguard-go): a crashed instance's device. An instance that did not
 * stop (its host died) leaves its device and wireguard-go behind; a new instance on the same
 * state directory replaces them (the old wireguard-go ends, and the old instance reports that
 * exit through onFault), while an instance without our device record refuses to touch them.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'chai';
import type { BackendFault, BackendStartConfig } from '@rustynet/plugin-api';
import { createPlugin } from '../src/index.js';
import { makeContext, tempDir } from './support/context.js';
import { caught } from './support/keys.js';
import { NetnsRunner } from './support/netns-runner.js';
import { TwoNs, sh } from './support/two-ns.js';

function haveTools(): boolean {
  return process.getuid?.() === 0 && ['/usr/bin/wg', '/usr/bin/wireguard-go', '/usr/sbin/ip'].every((p) => existsSync(p));
}

/** pids of live (not zombie) wireguard-go processes serving `ifname`. */
async function wireguardGoPids(ifname: string): Promise<number[]> {
  const r = await sh('pgrep', ['-f', `wireguard-go -f ${ifname}$`]);
  const pids = r.stdout.split(/\s+/).filter(Boolean).map(Number);
  return pids.filter((p) => {
    try {
      const stat = readFileSync(`/proc/${p}/stat`, 'utf8');
      return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
    } catch {
      return false;
    }
  });
}

describe('WireGuard backend: the device of a crashed instance (integration)', function () {
  this.timeout(60_000);
  let net: TwoNs | undefined;
  const stops: Array<() => Promise<void>> = [];

  before(async function () {
    if (!haveTools()) this.skip();
    net = await TwoNs.create();
  });

  after(async function () {
    for (const stop of stops.reverse()) await stop().catch(() => undefined);
    net?.destroySync();
  });

  it('a new instance on the same state replaces it; one without our record refuses it', async () => {
    if (!net) throw new Error('no namespaces');
    const ifname = net.wgName('a');
    const keyDir = join(tempDir(), 'wireguard');
    const firstCtx = makeContext(new NetnsRunner(net.nsA), { userspace: 'always' });
    const first = createPlugin(firstCtx);
    stops.push(() => first.stop());
    await first.generateKeyPair(keyDir);
    const faults: BackendFault[] = [];
    const cfg: BackendStartConfig = {
      nodeId: 'a',
      interfaceName: ifname,
      addresses: ['100.64.77.1/32'],
      listenPort: 0,
      keyDirectory: keyDir,
      onFault: (f) => faults.push(f),
    };
    await first.start(cfg);
    const [orphan] = await wireguardGoPids(ifname);
    expect(orphan, 'the first instance runs wireguard-go').to.be.a('number');
    const record = join(firstCtx.state.dir, `device-${ifname}.json`);
    expect(existsSync(record), 'the device record is written').to.equal(true);
    expect((await sh('stat', ['-c', '%a', record])).stdout.trim()).to.equal('600');

    // A stranger (no record in its state directory) must not take the device.
    const stranger = createPlugin(makeContext(new NetnsRunner(net.nsA), { userspace: 'always' }));
    stops.push(() => stranger.stop());
    const err = await caught(() => stranger.start({ ...cfg, onFault: () => undefined }));
    expect([err.code, err.field]).to.deep.equal(['BACKEND_FAILED', 'interfaceName']);
    expect(await wireguardGoPids(ifname), 'the refused start left the device alone').to.deep.equal([orphan]);

    // The first instance "crashed" (never stopped): a new one on the same state replaces it.
    const second = createPlugin({ ...makeContext(new NetnsRunner(net.nsA), { userspace: 'always' }), state: firstCtx.state });
    stops.push(() => second.stop());
    await second.start({ ...cfg, onFault: () => undefined });
    const now = await wireguardGoPids(ifname);
    expect(now, 'exactly one wireguard-go, not the orphan').to.have.length(1);
    expect(now).to.not.include(orphan);
    expect((await second.stats()).interfaces).to.deep.equal([ifname]);
    const link = await sh('ip', ['-n', net.nsA, '-o', 'addr', 'show', 'dev', ifname]);
    expect(link.stdout).to.include('100.64.77.1/32');
    // The crashed instance's watcher saw its wireguard-go die and reported it.
    for (let i = 0; i < 40 && faults.length === 0; i++) await new Promise((r) => setTimeout(r, 50));
    expect(faults.map((f) => f.code)).to.deep.equal(['BACKEND_FAILED']);
    expect(faults[0]?.message).to.include(String(orphan));

    await second.stop();
    expect(await wireguardGoPids(ifname)).to.deep.equal([]);
    expect(existsSync(record), 'a clean stop removes the record').to.equal(false);
    expect(existsSync(`/var/run/wireguard/${ifname}.sock`)).to.equal(false);
  });
});
