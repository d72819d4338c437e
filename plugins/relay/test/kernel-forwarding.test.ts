/**
 * The kernel fast path without a kernel: rule text from validated input only (hostile input is a
 * named INVALID_INPUT and renders nothing), the forwarder's prerequisites, and the server's
 * ALLOCATE handling with a recording nft runner (pairs only between the two sessions that asked
 * for each other, removed when a session ends and when the server stops).
 */
import { expect } from 'chai';
import { isRustynetError } from '@rustynet/plugin-api';
import { KernelForwarder, allocation, createRelayServer, kernelRules, protocol, type RelayServer } from '../src/index.js';
import { ManualClock, RawClient, expectInvalid, kernelPair, makeKey, type TestKey } from './helpers.js';

const { AllocationMessageType, encodeAllocation, decodeAllocation } = allocation;
const RELAY_ID = 'relay-test';

const pair = (over: Record<string, unknown> = {}): kernelRules.KernelPair => kernelPair(over);

describe('relay kernel fast path: rule generation', () => {
  it('renders both directions of a pair into the relay table only', () => {
    const s = kernelRules.renderAddPair(pair());
    for (const line of s.trim().split('\n')) expect(line).to.match(/^add (counter|chain|rule|element) inet rustynet_relay /);
    expect(s).to.contain('add element inet rustynet_relay pre { 198.18.0.1 . 51820 . 198.18.0.10 . 40001 : goto f3a }');
    expect(s).to.contain('add rule inet rustynet_relay f3a counter name "c3a" notrack ip daddr set 198.18.0.2 udp dport set 51821');
    expect(s).to.contain('add rule inet rustynet_relay s3a ip saddr set 198.18.0.10 udp sport set 40002');
    expect(s).to.contain('add element inet rustynet_relay pre { 198.18.0.2 . 51821 . 198.18.0.10 . 40002 : goto f3b }');
    expect(s).to.contain('add rule inet rustynet_relay f3a limit name "n0p" drop');
    const d = kernelRules.renderDeletePair(pair());
    expect(d.indexOf('delete element')).to.be.lessThan(d.indexOf('delete chain'));
    expect(kernelRules.renderBaseTable()).to.match(/^add table inet rustynet_relay\ndelete table inet rustynet_relay\n/);
  });

  it('refuses hostile input with a named INVALID_INPUT and renders nothing', () => {
    const a = pair().a;
    expectInvalid(() => kernelRules.renderAddPair(pair({ relay: '198.18.0.10; flush ruleset' })), 'pair.relay');
    expectInvalid(() => kernelRules.renderAddPair(pair({ relay: '::1' })), 'pair.relay');
    expectInvalid(
      () => kernelRules.renderAddPair(pair({ a: { ...a, address: '198.18.0.1 } ; add rule ip filter x accept' } })),
      'pair.a.address',
    );
    expectInvalid(() => kernelRules.renderAddPair(pair({ a: { ...a, address: '198.018.0.1' } })), 'pair.a.address');
    expectInvalid(() => kernelRules.renderAddPair(pair({ a: { ...a, port: 0 } })), 'pair.a.port');
    expectInvalid(() => kernelRules.renderAddPair(pair({ a: { ...a, port: 65536 } })), 'pair.a.port');
    expectInvalid(() => kernelRules.renderAddPair(pair({ a: { ...a, port: '51820' } })), 'pair.a.port');
    expectInvalid(() => kernelRules.renderAddPair(pair({ a: { ...a, allocationPort: 1.5 } })), 'pair.a.allocationPort');
    expectInvalid(() => kernelRules.renderAddPair(pair({ a: { ...a, limit: 'n0" drop; add' } })), 'pair.a.limit');
    expectInvalid(() => kernelRules.renderAddPair(pair({ id: -1 })), 'pair.id');
    expectInvalid(() => kernelRules.renderAddPair(pair({ b: null })), 'pair.b');
    expectInvalid(() => kernelRules.renderAddPair(pair({ b: { ...pair().b, allocationPort: 40001 } })), 'pair.b.allocationPort');
    expectInvalid(
      () => kernelRules.renderNodeLimits({ name: 'n0', packetsPerSecond: 0, burstPackets: 1, bytesPerSecond: 1, burstBytes: 1 }),
      'limits.packetsPerSecond',
    );
    expectInvalid(() => kernelRules.renderDeleteNodeLimits('N0;'), 'limits.name');
  });

  it('the forwarder refuses to start without IP forwarding, a specific address or a working nft, and runs nothing then', async () => {
    const scripts: string[] = [];
    const run = async (s: string): Promise<string> => (scripts.push(s), '');
    const reason = async (p: Promise<unknown>): Promise<unknown> => {
      try {
        await p;
      } catch (err) {
        expect(isRustynetError(err, 'KERNEL_FORWARDING_FAILED'), String(err)).to.equal(true);
        return (err as { details?: { reason?: unknown } }).details?.reason;
      }
      return expect.fail('expected KERNEL_FORWARDING_FAILED');
    };
    expect(await reason(KernelForwarder.start({ relayAddress: '198.18.0.10', run, readIpForward: async () => '0\n' }))).to.equal(
      'ip_forward',
    );
    expect(await reason(KernelForwarder.start({ relayAddress: '0.0.0.0', run, readIpForward: async () => '1' }))).to.equal(
      'listen_address',
    );
    expect(await reason(KernelForwarder.start({ relayAddress: '::1', run, readIpForward: async () => '1' }))).to.equal('listen_address');
    expect(scripts).to.deep.equal([]);
    const broken = async (): Promise<string> => {
      throw new Error('Operation not permitted');
    };
    expect(await reason(KernelForwarder.start({ relayAddress: '198.18.0.10', run: broken, readIpForward: async () => '1' }))).to.equal(
      'nft',
    );
  });

  it('ALLOCATE/ALLOCATED round-trip; junk does not decode', () => {
    const m = encodeAllocation(AllocationMessageType.ALLOCATE, 51820, 'peer-b');
    expect(decodeAllocation(m, AllocationMessageType.ALLOCATE)).to.deep.equal({ port: 51820, peer: 'peer-b' });
    expect(decodeAllocation(m, AllocationMessageType.ALLOCATED)).to.equal(undefined);
    expect(decodeAllocation(Buffer.concat([m, Buffer.from([0])]), AllocationMessageType.ALLOCATE)).to.equal(undefined);
    const bad = Buffer.from(m);
    bad[5] = 0x41; // 'A' is not a node id character
    expect(decodeAllocation(bad, AllocationMessageType.ALLOCATE)).to.equal(undefined);
    expect(() => encodeAllocation(AllocationMessageType.ALLOCATE, 70000, 'b')).to.throw(RangeError);
    const p = encodeAllocation(AllocationMessageType.ALLOCATE, 51820, 'b', 40000);
    expect(decodeAllocation(p, AllocationMessageType.ALLOCATE)).to.deep.equal({ port: 51820, peer: 'b', preferred: 40000 });
    expect(decodeAllocation(p, AllocationMessageType.ALLOCATED), 'ALLOCATED has no preferred port').to.equal(undefined);
    const low = Buffer.from(p);
    low.writeUInt16BE(3478, p.length - 2); // a well-known port (the relay's own): refused
    expect(decodeAllocation(low, AllocationMessageType.ALLOCATE)).to.equal(undefined);
    expect(() => encodeAllocation(AllocationMessageType.ALLOCATE, 51820, 'b', 443)).to.throw(RangeError);
  });
});

describe('relay kernel fast path: server allocations (recording nft)', () => {
  let server: RelayServer;
  let clock: ManualClock;
  let keys: Record<string, TestKey>;
  let scripts: string[];
  const clients: RawClient[] = [];

  async function start(kernel: boolean | 'broken' = true): Promise<void> {
    clock = new ManualClock();
    scripts = [];
    keys = { a: makeKey(), b: makeKey(), c: makeKey() };
    const run = async (s: string): Promise<string> => {
      if (kernel === 'broken' && s.includes('add element')) throw new Error('Error: Could not process rule');
      scripts.push(s);
      return '';
    };
    server = createRelayServer({
      listen: { host: '127.0.0.1', port: 0 },
      relayId: RELAY_ID,
      identityKeys: Object.fromEntries(Object.entries(keys).map(([id, k]) => [id, k.publicKeyB64])),
      now: clock.now,
      sweepIntervalMs: 0,
      ...(kernel !== false && { kernelForwarding: { nftRunner: run, readIpForward: async () => '1\n', router: false } }),
    });
    await server.start();
  }

  async function registered(id: string): Promise<RawClient> {
    const c = await RawClient.open(server.address()!);
    clients.push(c);
    expect(await c.register(id, keys[id], RELAY_ID)).to.equal('registered');
    return c;
  }

  async function allocate(c: RawClient, peer: string, backendPort: number, preferred?: number): Promise<number> {
    await c.send(encodeAllocation(AllocationMessageType.ALLOCATE, backendPort, peer, preferred));
    const m = await c.next((b) => b[1] === AllocationMessageType.ALLOCATED);
    const a = decodeAllocation(m, AllocationMessageType.ALLOCATED);
    expect(a?.peer).to.equal(peer);
    return a!.port;
  }

  /** Waits until the serialised nft runs caught up (the server answers before the pair is installed). */
  async function settle(): Promise<void> {
    for (let i = 0; i < 50; i++) await new Promise((r) => setImmediate(r));
  }

  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.close()));
    await server?.stop();
  });

  it('pairs the two sessions that asked for each other, with their own addresses, and unpairs when one ends', async () => {
    await start();
    expect(scripts[0]).to.contain('delete table inet rustynet_relay'); // crash recovery: the table starts empty
    const [a, b, c] = [await registered('a'), await registered('b'), await registered('c')];
    const pa = await allocate(a, 'b', 5000);
    expect(pa).to.be.greaterThan(0);
    await settle();
    expect(scripts.join('')).not.to.contain('add element'); // one side only: nothing forwarded yet
    const pc = await allocate(c, 'b', 5002); // c also wants b: gets its own port, never a's pair
    expect(pc).to.be.greaterThan(0).and.not.equal(pa);
    const pb = await allocate(b, 'a', 5001);
    await settle();
    const added = scripts.filter((s) => s.includes('add element'));
    expect(added).to.have.length(1);
    expect(added[0]).to.contain(`pre { 127.0.0.1 . 5000 . 127.0.0.1 . ${pa} : goto`);
    expect(added[0]).to.contain(`pre { 127.0.0.1 . 5001 . 127.0.0.1 . ${pb} : goto`);
    expect(added[0]).not.to.contain(`. ${pc} :`);
    expect(server.stats().kernel).to.include({ state: 'active', pairs: 1 });
    expect(await allocate(a, 'b', 5000)).to.equal(pa); // a refresh keeps the port and the pair
    await settle();
    expect(scripts.filter((s) => s.includes('add element'))).to.have.length(1);
    // b's session expires (only a and c keep talking): its pair goes.
    clock.advance(20_000);
    await a.barrier(true);
    await c.barrier(true);
    clock.advance(15_000);
    server.sweep();
    await settle();
    const removed = scripts.filter((s) => s.includes('delete element'));
    expect(removed).to.have.length(1);
    expect(removed[0]).to.contain(`127.0.0.1 . 5000 . 127.0.0.1 . ${pa} }`);
    expect(server.stats().kernel).to.include({ pairs: 0 });
  });

  it('answers 0 for itself, an unknown peer, or without kernel forwarding; nothing for an unregistered address', async () => {
    await start();
    const a = await registered('a');
    expect(await allocate(a, 'a', 5000)).to.equal(0);
    expect(await allocate(a, 'zz', 5000)).to.equal(0);
    const stranger = await RawClient.open(server.address()!);
    clients.push(stranger);
    await stranger.send(encodeAllocation(AllocationMessageType.ALLOCATE, 5000, 'a'));
    const answer = await stranger.next();
    expect(answer[1]).to.equal(protocol.MessageType.REJECT); // NOT_REGISTERED, smaller than the request
    expect(answer.length).to.be.lessThan(5 + 1);
    await server.stop();
    await start(false);
    const a2 = await registered('a');
    await registered('b');
    expect(await allocate(a2, 'b', 5000)).to.equal(0);
    expect(server.stats().kernel).to.equal(null);
  });

  it('falls back when nft fails: the pair is not installed, failures counted, the relay still serves', async () => {
    await start('broken');
    const [a, b] = [await registered('a'), await registered('b')];
    await allocate(a, 'b', 5000);
    await allocate(b, 'a', 5001);
    await settle();
    const k = server.stats().kernel!;
    expect(k.pairs).to.equal(0);
    expect(k.failures).to.be.greaterThan(0);
    await a.sendData('b', Buffer.from('still relayed'));
    await b.next((m) => m[1] === protocol.MessageType.DATA);
  });

  it('a server whose kernel path cannot start reports why and relays in userspace', async () => {
    clock = new ManualClock();
    keys = { a: makeKey(), b: makeKey() };
    server = createRelayServer({
      listen: { host: '127.0.0.1', port: 0 },
      relayId: RELAY_ID,
      identityKeys: { a: keys.a.publicKeyB64, b: keys.b.publicKeyB64 },
      now: clock.now,
      sweepIntervalMs: 0,
      kernelForwarding: { nftRunner: async () => '', readIpForward: async () => '0' },
    });
    await server.start();
    const k = server.stats().kernel!;
    expect(k.state).to.equal('failed');
    expect(k.reason).to.contain('ip_forward');
    const a = await registered('a');
    await registered('b');
    expect(await allocate(a, 'b', 5000)).to.equal(0);
  });

  it('gives a client its previous port again when it is free (relay restart), another one when it is taken', async () => {
    await start();
    const [a] = [await registered('a'), await registered('b')];
    const pa = await allocate(a, 'b', 5000);
    expect(pa).to.be.at.least(allocation.MIN_PREFERRED_PORT); // ephemeral ports: Linux's 32768..60999
    // a's session ends (a new registration from another socket); its port is released.
    clock.advance(31_000);
    expect(server.sweep()).to.equal(2);
    expect(server.stats().kernel?.allocations).to.equal(0);
    const a2 = await registered('a');
    expect(await allocate(a2, 'b', 5000, pa)).to.equal(pa);
    const c = await registered('c');
    const pc = await allocate(c, 'b', 5002, pa); // taken by a2: c gets another port
    expect(pc).to.be.greaterThan(0).and.not.equal(pa);
  });

  it('stop deletes the relay table', async () => {
    await start();
    await server.stop();
    expect(scripts[scripts.length - 1]).to.equal('add table inet rustynet_relay\ndelete table inet rustynet_relay\n');
  });
});
