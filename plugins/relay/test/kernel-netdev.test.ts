/**
 * The netdev fast path without a kernel: rule text (ingress of the relay interface, `fwd` to the
 * next hop) from validated input only, and the forwarder's choice of table with an injected
 * router and a recording nft runner: netdev when it can be created and both nodes are reached
 * through the relay interface, else the inet table (said in `netdevReason`, `stats().kernel.mode`).
 */
import { expect } from 'chai';
import { KernelForwarder, createRelayServer, kernelRules, kernelRulesNetdev, type RelayRouter } from '../src/index.js';
import { expectInvalid, kernelPair, makeKey } from './helpers.js';

const LIMITS = { packetsPerSecond: 1000, burstPackets: 100, bytesPerSecond: 1_000_000, burstBytes: 100_000 };
const ROUTE = { device: 'eth0', a: '198.18.0.1', b: '198.18.0.254' };

const pair = (over: Record<string, unknown> = {}): kernelRules.KernelPair => kernelPair(over, '198.19.0.2');

/** Routes: 198.18.0.0/24 on eth0, 198.19.0.0/24 via 198.18.0.254 on eth0, anything else on eth1. */
const router: RelayRouter = {
  deviceOf: async (a) => (a === '198.18.0.10' ? 'eth0' : Promise.reject(new Error(`no interface holds ${a}`))),
  routeTo: async (a) =>
    a.startsWith('198.18.0.')
      ? { device: 'eth0', nextHop: a }
      : a.startsWith('198.19.0.')
        ? { device: 'eth0', nextHop: '198.18.0.254' }
        : { device: 'eth1', nextHop: '203.0.113.1' },
};

describe('relay kernel fast path: netdev rule generation', () => {
  it('matches at the relay interface ingress, rewrites both ends and forwards to the next hop', () => {
    const base = kernelRulesNetdev.renderNetdevBaseTable('eth0');
    expect(base).to.match(/^add table netdev rustynet_relay\ndelete table netdev rustynet_relay\n/);
    expect(base).to.contain('type filter hook ingress device "eth0" priority -500; policy accept;');
    expect(base).to.contain('ip saddr . udp sport . ip daddr . udp dport vmap @pre');
    const s = kernelRulesNetdev.renderNetdevAddPair(pair(), ROUTE);
    for (const line of s.trim().split('\n')) expect(line).to.match(/^add (counter|chain|rule|element) netdev rustynet_relay /);
    expect(s).to.contain('add element netdev rustynet_relay pre { 198.18.0.1 . 51820 . 198.18.0.10 . 40001 : goto f3a }');
    expect(s).to.contain('add rule netdev rustynet_relay f3a limit name "n0p" drop');
    expect(s).to.contain('add rule netdev rustynet_relay f3a limit name "n0b" drop');
    expect(s).to.contain(
      'add rule netdev rustynet_relay f3a counter name "c3a" ip saddr set 198.18.0.10 ip daddr set 198.19.0.2 ' +
        'udp sport set 40002 udp dport set 51821 fwd ip to 198.18.0.254 device "eth0"',
    );
    expect(s).to.contain(
      'add rule netdev rustynet_relay f3b counter name "c3b" ip saddr set 198.18.0.10 ip daddr set 198.18.0.1 ' +
        'udp sport set 40001 udp dport set 51820 fwd ip to 198.18.0.1 device "eth0"',
    );
    expect(s).to.contain('add element netdev rustynet_relay pre { 198.19.0.2 . 51821 . 198.18.0.10 . 40002 : goto f3b }');
    expect(s).not.to.contain('inet');
    const d = kernelRules.renderDeletePair(pair(), 'netdev');
    for (const line of d.trim().split('\n')) expect(line).to.match(/^delete (element|chain|counter) netdev rustynet_relay /);
    expect(d.indexOf('delete element')).to.be.lessThan(d.indexOf('delete chain'));
    expect(d).not.to.contain(' post ');
    expect(kernelRules.renderNodeLimits({ name: 'n0', ...LIMITS }, 'netdev')).to.contain('add limit netdev rustynet_relay n0p');
    expect(kernelRules.renderDeleteNodeLimits('n0', 'netdev')).to.equal(
      'delete limit netdev rustynet_relay n0p\ndelete limit netdev rustynet_relay n0b\n',
    );
  });

  it('refuses hostile input with a named INVALID_INPUT and renders nothing', () => {
    const render = kernelRulesNetdev.renderNetdevAddPair;
    expectInvalid(() => kernelRulesNetdev.renderNetdevBaseTable('eth0"; flush ruleset; "'), 'device');
    expectInvalid(() => kernelRulesNetdev.renderNetdevBaseTable('a-very-long-interface'), 'device');
    expectInvalid(() => kernelRulesNetdev.renderNetdevBaseTable(''), 'device');
    expectInvalid(() => render(pair(), { ...ROUTE, device: 'eth0 }' }), 'route.device');
    expectInvalid(() => render(pair(), { ...ROUTE, device: 7 as unknown as string }), 'route.device');
    expectInvalid(() => render(pair(), { ...ROUTE, a: '198.18.0.1 device "eth1"' }), 'route.a');
    expectInvalid(() => render(pair(), { ...ROUTE, b: 'fe80::1' }), 'route.b');
    expectInvalid(() => render(pair(), null as unknown as kernelRulesNetdev.NetdevRoute), 'route');
    expectInvalid(() => render(pair({ relay: '198.18.0.10; flush ruleset' }), ROUTE), 'pair.relay');
    expectInvalid(() => render(pair({ a: { ...pair().a, port: 65536 } }), ROUTE), 'pair.a.port');
    expectInvalid(() => render(pair({ b: { ...pair().b, limit: 'n1"; flush' } }), ROUTE), 'pair.b.limit');
  });
});

describe('relay kernel fast path: netdev or inet table (recording nft)', () => {
  const limits = { a: { name: 'n0', ...LIMITS }, b: { name: 'n1', ...LIMITS } };

  async function forwarder(opts: { router?: RelayRouter | false; failNetdev?: boolean } = {}) {
    const scripts: string[] = [];
    const run = async (s: string): Promise<string> => {
      if (opts.failNetdev && s.includes('table netdev rustynet_relay {')) throw new Error('Error: Could not process rule: No such file');
      scripts.push(s);
      return s.startsWith('list counters table netdev') ? 'counter c3a {\n packets 5 bytes 700\n}\n' : '';
    };
    const f = await KernelForwarder.start({
      relayAddress: '198.18.0.10',
      run,
      readIpForward: async () => '1',
      ...(opts.router !== undefined && { router: opts.router }),
    });
    return { f, scripts };
  }

  it('puts pairs in the netdev table when both nodes are reached through the relay interface; stop deletes both tables', async () => {
    const { f, scripts } = await forwarder({ router });
    expect(f.netdevDevice).to.equal('eth0');
    expect(f.netdevReason).to.equal(null);
    expect(scripts[0]).to.contain('delete table inet rustynet_relay');
    expect(scripts[1]).to.contain('hook ingress device "eth0"');
    await f.addPair(pair(), limits);
    const add = scripts[2];
    expect(add).to.contain('add limit netdev rustynet_relay n0p');
    expect(add).to.contain('add limit netdev rustynet_relay n1b');
    expect(add).to.contain('fwd ip to 198.18.0.254 device "eth0"');
    expect(add).not.to.contain(' inet ');
    expect(f.netdevPairs).to.equal(1);
    // A node reached through another interface: that pair goes to the inet table.
    const far = pair({ id: 4, b: { address: '203.0.113.9', port: 51821, allocationPort: 40003, limit: 'n2' } });
    await f.addPair(far, { a: limits.a, b: { ...limits.b, name: 'n2' } });
    expect(scripts[3]).to.contain('add limit inet rustynet_relay n0p'); // limit objects live per table
    expect(scripts[3]).to.contain('add element inet rustynet_relay pre');
    expect([f.pairs, f.netdevPairs]).to.deep.equal([2, 1]);
    expect((await f.counters()).get('c3a')).to.deep.equal({ packets: 5, bytes: 700 });
    await f.removePair(pair());
    const del = scripts[scripts.length - 1];
    expect(del).to.contain('delete element netdev rustynet_relay pre');
    expect(del).to.contain('delete limit netdev rustynet_relay n1p'); // n1's last netdev pair
    expect(del).to.contain('delete limit netdev rustynet_relay n0p'); // n0's last netdev pair (its inet pair keeps the inet one)
    expect(del).not.to.contain('inet');
    await f.stop();
    expect(scripts.slice(-2)).to.deep.equal([
      'add table netdev rustynet_relay\ndelete table netdev rustynet_relay\n',
      'add table inet rustynet_relay\ndelete table inet rustynet_relay\n',
    ]);
  });

  it('falls back to the inet table, saying why, when the netdev table cannot be created or the interface is unknown', async () => {
    for (const [opts, why] of [
      [{ router, failNetdev: true }, 'cannot create table netdev rustynet_relay'],
      [{ router: { ...router, deviceOf: async () => Promise.reject(new Error('no interface holds it')) } }, 'relay interface'],
      [{ router: { ...router, deviceOf: async () => 'lo' } }, 'loopback'],
      [{ router: false as const }, 'disabled'],
    ] as const) {
      const { f, scripts } = await forwarder(opts);
      expect(f.netdevDevice).to.equal(null);
      expect(f.netdevReason).to.contain(why);
      // A killed relay's netdev table is flushed all the same.
      expect(scripts).to.include('add table netdev rustynet_relay\ndelete table netdev rustynet_relay\n');
      await f.addPair(pair(), limits);
      expect(scripts[scripts.length - 1]).to.contain('add element inet rustynet_relay pre');
      expect(f.netdevPairs).to.equal(0);
      await f.stop();
      expect(scripts[scripts.length - 1]).to.equal('add table inet rustynet_relay\ndelete table inet rustynet_relay\n');
    }
  });

  it('a pair with no route now goes to the inet table; hostile pairs still throw before any nft run', async () => {
    const { f, scripts } = await forwarder({ router: { ...router, routeTo: async () => Promise.reject(new Error('no route')) } });
    await f.addPair(pair(), limits);
    expect(scripts[scripts.length - 1]).to.contain('add element inet rustynet_relay pre');
    const n = scripts.length;
    expect(() => f.addPair(pair({ id: 5, relay: '1.2.3.4 } ; flush ruleset' }), limits)).to.throw(/pair\.relay/);
    expect(scripts.length).to.equal(n);
    await f.stop();
  });

  it("the server reports the table in stats().kernel.mode, with the fall-back's reason", async () => {
    const key = makeKey();
    for (const [r, mode, why] of [
      [{ ...router, deviceOf: async () => 'eth0' }, 'netdev', null],
      [false, 'inet', 'disabled'],
    ] as const) {
      const server = createRelayServer({
        listen: { host: '127.0.0.1', port: 0 },
        relayId: 'relay-test',
        identityKeys: { a: key.publicKeyB64 },
        sweepIntervalMs: 0,
        kernelForwarding: { nftRunner: async () => '', readIpForward: async () => '1', router: r },
      });
      await server.start();
      const k = server.stats().kernel;
      await server.stop();
      expect(k?.state).to.equal('active');
      expect(k?.mode).to.equal(mode);
      if (why === null) expect(k?.modeReason).to.equal(null);
      else expect(k?.modeReason).to.contain(why);
    }
  });
});
