import { join } from 'node:path';
import { expect } from 'chai';
import type { BackendPlugin, PeerConfig } from '@rustynet/plugin-api';
import { createPlugin } from '../src/index.js';
import { makeContext, tempDir } from './support/context.js';
import { FakeRunner, type RecordedCall } from './support/fake-runner.js';
import { caught, randomPublicKey } from './support/keys.js';
import { readFileSync } from 'node:fs';

/** A fake system: tracks links created and answers `wg show dump` from `dump`. */
function fakeSystem(): { runner: FakeRunner; links: Set<string>; dump: { text: string }; fail: { wgSet?: boolean } } {
  const links = new Set<string>();
  const dump = { text: '' };
  const fail: { wgSet?: boolean } = {};
  const runner = new FakeRunner((c: RecordedCall) => {
    const [a0, a1, a2, a3] = c.args;
    if (c.file === 'ip' && a0 === 'link' && a1 === 'show')
      return links.has(a3) ? {} : { exitCode: 1, stderr: `Device "${a3}" does not exist.` };
    if (c.file === 'ip' && a0 === 'link' && a1 === 'add') {
      links.add(a3);
      return {};
    }
    if (c.file === 'ip' && a0 === 'link' && a1 === 'del') return links.delete(a3) ? {} : { exitCode: 1, stderr: 'Cannot find device' };
    if (c.file === 'wg' && a0 === 'show' && a2 === 'dump') return { stdout: dump.text };
    if (c.file === 'wg' && a0 === 'set' && fail.wgSet) return { exitCode: 1, stderr: 'Unable to modify interface: No such device' };
    return undefined;
  });
  return { runner, links, dump, fail };
}

async function setup(options: Record<string, unknown> = { userspace: 'never' }) {
  const sys = fakeSystem();
  const ctx = makeContext(sys.runner, options);
  const plugin = createPlugin(ctx);
  const keyDir = join(tempDir(), 'wg');
  const { publicKey } = await plugin.generateKeyPair(keyDir);
  const privateKey = readFileSync(join(keyDir, 'private.key'), 'utf8').trim();
  const config = {
    nodeId: 'a',
    interfaceName: 'rnt0',
    addresses: ['100.64.0.1/32', 'fd7a::1/128'],
    listenPort: 51820,
    keyDirectory: keyDir,
  };
  return { ...sys, ctx, plugin, keyDir, publicKey, privateKey, config };
}

function peers(n: number, offset = 0): PeerConfig[] {
  return Array.from({ length: n }, (_, i) => ({
    id: `p${i + offset}`,
    publicKey: randomPublicKey(),
    endpoint: { host: `198.18.${(i >> 8) & 255}.${i & 255}`, port: 51820 },
    allowedIps: [`100.64.${((i + offset) >> 8) & 255}.${(i + offset) & 255}/32`],
    persistentKeepalive: 25,
  }));
}

async function expectNotRunning(plugin: BackendPlugin): Promise<void> {
  expect((await caught(() => plugin.applyPeers({ upsert: [], remove: [] }))).code).to.equal('NOT_RUNNING');
  expect((await caught(() => plugin.updatePeerEndpoint('b', { host: '198.18.0.2', port: 1 }))).code).to.equal('NOT_RUNNING');
  expect((await caught(() => plugin.applyRoutes({ add: [], remove: [] }))).code).to.equal('NOT_RUNNING');
  expect((await caught(() => plugin.stats())).code).to.equal('NOT_RUNNING');
}

describe('WireGuard backend command construction (recording runner)', () => {
  it('is NOT_RUNNING before start; stop before start is a no-op', async () => {
    const { plugin, runner } = await setup();
    await expectNotRunning(plugin);
    await plugin.stop();
    expect(runner.calls).to.have.length(0);
  });

  it('starts on the kernel module: link, private key by path, addresses, MTU, up', async () => {
    const { plugin, runner, config, keyDir, privateKey } = await setup();
    await plugin.start(config);
    expect(runner.calls.map((c) => [c.file, ...c.args].join(' '))).to.deep.equal([
      'ip link show dev rnt0',
      'ip link add dev rnt0 type wireguard',
      `wg set rnt0 listen-port 51820 private-key ${join(keyDir, 'private.key')}`,
      'ip -batch -',
    ]);
    expect(runner.calls[3].input).to.equal(
      'address add 100.64.0.1/32 dev rnt0\naddress add fd7a::1/128 dev rnt0\nlink set dev rnt0 mtu 1420 up\n',
    );
    expect(runner.visibleText()).not.to.include(privateKey);
    expect((await caught(() => plugin.start(config))).code).to.equal('ALREADY_RUNNING');
  });

  it('batches 200 peers into one wg call, 1000 peers too; never the private key', async () => {
    const { plugin, runner, config, privateKey, ctx } = await setup();
    await plugin.start(config);
    const before = runner.calls.length;
    const batch = peers(200);
    await plugin.applyPeers({ upsert: batch, remove: [] });
    const calls = runner.calls.slice(before);
    expect(calls).to.have.length(1);
    const args = calls[0].args;
    expect(args.slice(0, 2)).to.deep.equal(['set', 'rnt0']);
    expect(args.filter((a) => a === 'peer')).to.have.length(200);
    const i = args.indexOf(batch[7].publicKey);
    expect(args.slice(i - 1, i + 8)).to.deep.equal([
      'peer',
      batch[7].publicKey,
      'endpoint',
      '198.18.0.7:51820',
      'persistent-keepalive',
      '25',
      'allowed-ips',
      '100.64.0.7/32',
      'peer',
    ]);

    const n = runner.calls.length;
    await plugin.applyPeers({ upsert: peers(1000, 200), remove: batch.map((p) => p.id) });
    expect(runner.calls.length - n).to.equal(1);
    expect(runner.calls.at(-1)!.args.filter((a) => a === 'remove')).to.have.length(200);
    expect(runner.visibleText()).not.to.include(privateKey);
    expect(ctx.logger.text()).not.to.include(privateKey);
  });

  it('removes the old key when a peer key changes, and re-adds a peer that lost its endpoint', async () => {
    const { plugin, runner, config } = await setup();
    await plugin.start(config);
    const [b, c] = peers(2);
    await plugin.applyPeers({ upsert: [b, c], remove: [] });
    const newKey = randomPublicKey();
    const cNoEndpoint: PeerConfig = { ...c };
    delete cNoEndpoint.endpoint;
    await plugin.applyPeers({ upsert: [{ ...b, publicKey: newKey }, cNoEndpoint], remove: [] });
    expect(runner.calls.at(-1)!.args.join(' ')).to.equal(
      `set rnt0 peer ${b.publicKey} remove peer ${c.publicKey} remove ` +
        `peer ${newKey} endpoint 198.18.0.0:51820 persistent-keepalive 25 allowed-ips 100.64.0.0/32 ` +
        `peer ${c.publicKey} persistent-keepalive 25 allowed-ips 100.64.0.1/32`,
    );
  });

  it('rejects bad batches before running anything', async () => {
    const { plugin, runner, config } = await setup();
    await plugin.start(config);
    const [b] = peers(1);
    await plugin.applyPeers({ upsert: [b], remove: [] });
    const n = runner.calls.length;
    const good = peers(3, 10);
    const cases: Array<[string, () => Promise<void>]> = [
      ['INVALID_INPUT', () => plugin.applyPeers({ upsert: [...good, { ...b, id: 'x', publicKey: 'AAAA' }], remove: [] })],
      [
        'INVALID_INPUT',
        () =>
          plugin.applyPeers({
            upsert: [...good, { ...good[0], id: 'y', publicKey: randomPublicKey(), allowedIps: ['10.0.0.1/8'] }],
            remove: [],
          }),
      ],
      ['DUPLICATE_PEER', () => plugin.applyPeers({ upsert: [...good, good[1]], remove: [] })],
      ['UNKNOWN_PEER', () => plugin.applyPeers({ upsert: good, remove: ['nobody'] })],
      ['UNKNOWN_PEER', () => plugin.updatePeerEndpoint('nobody', { host: '198.18.0.9', port: 5 })],
      ['INVALID_INPUT', () => plugin.updatePeerEndpoint(b.id, { host: '198.18.0.999', port: 5 })],
      ['UNKNOWN_PEER', () => plugin.applyRoutes({ add: [{ destination: '10.0.0.0/8', peer: 'nobody' }], remove: [] })],
      ['INVALID_INPUT', () => plugin.applyRoutes({ add: [{ destination: '10.0.0.0/33', peer: b.id }], remove: [] })],
    ];
    for (const [code, fn] of cases) expect((await caught(fn)).code).to.equal(code);
    expect(runner.calls.length).to.equal(n);
  });

  it('updates one endpoint with one wg call (IPv6 bracketed)', async () => {
    const { plugin, runner, config } = await setup();
    await plugin.start(config);
    const [b] = peers(1);
    await plugin.applyPeers({ upsert: [b], remove: [] });
    await plugin.updatePeerEndpoint(b.id, { host: 'fd00::2', port: 4000 });
    expect(runner.calls.at(-1)!.args).to.deep.equal(['set', 'rnt0', 'peer', b.publicKey, 'endpoint', '[fd00::2]:4000']);
  });

  it('applies routes with one ip -batch on stdin and removes only its own routes', async () => {
    const { plugin, runner, config } = await setup();
    await plugin.start(config);
    const [b] = peers(1);
    await plugin.applyPeers({ upsert: [{ ...b, allowedIps: ['100.64.0.2/32', '10.0.0.0/8', '::/0'] }], remove: [] });
    const n0 = runner.calls.length;
    await plugin.applyRoutes({
      add: [
        { destination: '10.1.0.0/16', peer: b.id },
        { destination: '10.2.0.0/16', peer: b.id },
      ],
      remove: [],
    });
    expect(runner.calls.length - n0).to.equal(1);
    expect(runner.calls.at(-1)!.args).to.deep.equal(['-force', '-batch', '-']);
    expect(runner.calls.at(-1)!.input).to.equal('route replace 10.1.0.0/16 dev rnt0\nroute replace 10.2.0.0/16 dev rnt0\n');
    await plugin.applyRoutes({
      add: [],
      remove: [
        { destination: '10.1.0.0/16', peer: b.id },
        { destination: '192.168.0.0/16', peer: b.id },
      ],
    });
    expect(runner.calls.at(-1)!.input).to.equal('route del 10.1.0.0/16 dev rnt0\n');
    const n = runner.calls.length;
    await plugin.applyRoutes({ add: [], remove: [{ destination: '10.1.0.0/16', peer: b.id }] });
    expect(runner.calls.length).to.equal(n);
    await plugin.stop();
    expect(runner.calls.at(-2)!.input).to.equal('route del 10.2.0.0/16 dev rnt0\n');
  });

  it('routes an exit node (::/0) with fwmark policy routing, like wg-quick, and removes the rules on stop', async () => {
    const { plugin, runner, config } = await setup();
    await plugin.start(config);
    const [b] = peers(1);
    await plugin.applyPeers({ upsert: [{ ...b, allowedIps: ['100.64.0.2/32', '::/0'] }], remove: [] });
    const n = runner.calls.length;
    await plugin.applyRoutes({ add: [{ destination: '::/0', peer: b.id }], remove: [] });
    const calls = runner.calls.slice(n);
    expect(calls.map((c) => [c.file, ...c.args].join(' '))).to.deep.equal(['wg set rnt0 fwmark 51820', 'ip -6 -batch -']);
    expect(calls[1].input).to.equal(
      'route replace default dev rnt0 table 51820\nrule add not fwmark 51820 table 51820\nrule add table main suppress_prefixlength 0\n',
    );
    await plugin.stop();
    const del = runner.calls.find((c) => c.args[0] === '-6' && c.args.includes('-force'))!;
    expect(del.input).to.equal(
      'rule del table main suppress_prefixlength 0\nrule del not fwmark 51820 table 51820\nroute del default dev rnt0 table 51820\n',
    );
    expect(runner.calls.at(-1)!.args).to.deep.equal(['link', 'del', 'dev', 'rnt0']);
  });

  it('reports stats from wg show dump, mapping keys to peer ids', async () => {
    const { plugin, config, dump } = await setup();
    await plugin.start(config);
    const [b, c] = peers(2);
    await plugin.applyPeers({ upsert: [b, c], remove: [] });
    const t = Math.floor(Date.now() / 1000) - 5;
    dump.text = [
      'PRIVATEKEYPRIVATEKEYPRIVATEKEYPRIVATEKEYPRI=\tPUB\t51820\toff',
      `${b.publicKey}\t(none)\t198.18.0.0:51820\t100.64.0.0/32\t${t}\t100\t200\t25`,
      `${c.publicKey}\t(none)\t(none)\t100.64.0.1/32\t0\t0\t0\t25`,
      `${randomPublicKey()}\t(none)\t(none)\t(none)\t0\t0\t0\toff`,
    ].join('\n');
    const s = await plugin.stats();
    expect(s).to.deep.equal({
      interfaces: ['rnt0'],
      listenPort: 51820,
      peers: [
        {
          id: b.id,
          endpoint: { host: '198.18.0.0', port: 51820 },
          lastHandshakeAt: t * 1000,
          rxBytes: 100,
          txBytes: 200,
          state: 'up',
          cipher: 'ChaCha20-Poly1305',
        },
        // no session yet: no cipher to report
        { id: c.id, lastHandshakeAt: null, rxBytes: 0, txBytes: 0, state: 'connecting' },
      ],
    });
  });

  it('stop deletes the link, is idempotent, and start works again', async () => {
    const { plugin, runner, config, links } = await setup();
    await plugin.start(config);
    await plugin.applyRoutes({ add: [], remove: [] });
    await plugin.stop();
    expect(links.size).to.equal(0);
    expect(runner.calls.at(-1)!.args).to.deep.equal(['link', 'del', 'dev', 'rnt0']);
    await plugin.stop();
    await expectNotRunning(plugin);
    await plugin.start(config);
    expect(links.has('rnt0')).to.equal(true);
    await plugin.stop();
  });

  it('cleans up when start fails half way (fail closed)', async () => {
    const { plugin, config, links, fail } = await setup();
    fail.wgSet = true;
    const err = await caught(() => plugin.start(config));
    expect(err.code).to.equal('BACKEND_FAILED');
    expect(links.size).to.equal(0);
    await expectNotRunning(plugin);
    fail.wgSet = false;
    await plugin.start(config);
  });

  it('refuses to start over an existing interface, and with a bad key directory', async () => {
    const { plugin, config, links, runner } = await setup();
    links.add('rnt0');
    expect((await caught(() => plugin.start(config))).field).to.equal('interfaceName');
    links.clear();
    expect((await caught(() => plugin.start({ ...config, keyDirectory: tempDir() }))).code).to.equal('KEY_INVALID');
    expect((await caught(() => plugin.start({ ...config, mtu: 100 }))).field).to.equal('mtu');
    expect(runner.calls.filter((c) => c.args[1] === 'add')).to.have.length(0);
  });

  it('spawns wireguard-go in the foreground with its env, and reports an early exit', async () => {
    const sys = fakeSystem();
    const prev = sys.runner.handler;
    sys.runner.handler = (c) => (c.kind === 'spawn' ? { exitCode: 1, stderr: 'ERROR: (rnt0) Failed to create TUN device' } : prev(c));
    const plugin = createPlugin(makeContext(sys.runner, { userspace: 'always', wireguardGoPath: '/usr/bin/wireguard-go' }));
    const keyDir = join(tempDir(), 'k');
    await plugin.generateKeyPair(keyDir);
    const err = (await caught(() =>
      plugin.start({ nodeId: 'a', interfaceName: 'rnt0', addresses: ['100.64.0.1/32'], listenPort: 0, keyDirectory: keyDir }),
    )) as { code?: string; details?: { output?: string } };
    expect(err.code).to.equal('BACKEND_FAILED');
    expect(err.details?.output).to.include('Failed to create TUN');
    const spawn = sys.runner.calls.find((c) => c.kind === 'spawn')!;
    expect([spawn.file, ...spawn.args]).to.deep.equal(['/usr/bin/wireguard-go', '-f', 'rnt0']);
    expect(spawn.env).to.deep.equal({ WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD: '1' });
    expect(sys.runner.calls.some((c) => c.file === 'ip' && c.args[1] === 'add')).to.equal(false);
  });

  it('passes the caller deadline and signal to every command; an aborted call changes nothing', async () => {
    const { plugin, runner, config, links } = await setup();
    const ac = new AbortController();
    await plugin.start(config, { signal: ac.signal, timeoutMs: 5000 });
    for (const c of runner.calls) {
      const o = c.options as { signal?: AbortSignal; timeoutMs?: number };
      expect(o.signal).to.equal(ac.signal);
      expect(o.timeoutMs).to.be.within(1, 5000);
    }
    await plugin.stop();
    ac.abort();
    expect((await caught(() => plugin.start(config, { signal: ac.signal }))).code).to.equal('ABORTED');
    expect(links.size).to.equal(0);
  });

  it('warns about unrouted routes only for touched routes, never for routes of peers being removed', async () => {
    const { plugin, ctx, config } = await setup();
    await plugin.start(config);
    const ps = peers(50);
    await plugin.applyPeers({ upsert: ps, remove: [] });
    await plugin.applyRoutes({ add: ps.map((p) => ({ destination: p.allowedIps[0], peer: p.id })), remove: [] });
    const warnings = (): number =>
      ctx.logger.lines.filter((l) => l.level === 'warn' && /not within the allowed IPs/.test(l.msg ?? '')).length;
    expect(warnings()).to.equal(0);
    // The daemon's order: peers removed first, their routes next. No warning in between.
    await plugin.applyPeers({ upsert: [], remove: ps.slice(0, 40).map((p) => p.id) });
    expect(warnings()).to.equal(0);
    await plugin.applyRoutes({ add: [], remove: ps.slice(0, 40).map((p) => ({ destination: p.allowedIps[0], peer: p.id })) });
    // A route outside its peer's allowed IPs is reported once, when added.
    await plugin.applyRoutes({ add: [{ destination: '10.9.0.0/16', peer: ps[45].id }], remove: [] });
    expect(warnings()).to.equal(1);
    await plugin.applyRoutes({ add: [{ destination: '10.8.0.0/16', peer: ps[46].id }], remove: [] });
    expect(warnings()).to.equal(2);
    // Shrinking a peer's allowed IPs under its route is reported (for that peer's routes only).
    await plugin.applyPeers({ upsert: [{ ...ps[47], allowedIps: ['100.64.9.9/32'] }], remove: [] });
    expect(warnings()).to.equal(3);
    await plugin.stop();
  });
});
