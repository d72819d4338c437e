/**
 * Unit tests of the backend against a recording fake runner: validation, batching, generated
 * configs, the port/role rule, supervision and teardown. No network, no root.
 */
import { expect } from 'chai';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isRustynetError, type PeerConfig, type RustynetError } from '@rustynet/plugin-api';
import { OpenVpnBackend } from '../src/backend.js';
import { generateKeyPair, KEY_FILE } from '../src/keys.js';
import { parseIp } from '@rustynet/plugin-kit';
import { portOffset } from '../src/rules.js';

const off = (ip: string): number => portOffset(ipv4ToBigInt(ip), 1024);
import { FakeRunner } from './support/fake-runner.js';
import { makeContext, MemoryLogger } from './support/context.js';

/** An IPv4 address as an integer (plugin-kit's parser). */
const ipv4ToBigInt = (ip: string): bigint => parseIp(ip)?.value ?? -1n;

/** An address outside a's /22 whose port offset equals a's (100.64.0.1). */
const COLLIDES_WITH_A = (() => {
  for (let i = 1024; i < 65536; i++) {
    const v = ipv4ToBigInt('100.64.0.0') + BigInt(i);
    if (portOffset(v, 1024) === portOffset(ipv4ToBigInt('100.64.0.1'), 1024))
      return [24, 16, 8, 0].map((sh) => Number((v >> BigInt(sh)) & 255n)).join('.');
  }
  throw new Error('no collision found');
})();

const FP = (n: number): string =>
  Array.from({ length: 32 }, (_, k) => ((n + k) % 256).toString(16).padStart(2, '0').toUpperCase()).join(':');

function peer(id: string, n: number, extra: Partial<PeerConfig> = {}): PeerConfig {
  return {
    id,
    publicKey: FP(n),
    endpoint: { host: `198.18.0.${n}`, port: 51000 },
    allowedIps: [`100.64.0.${n}/32`, `fd00::${n}/128`],
    ...extra,
  };
}

async function failure(p: Promise<unknown>): Promise<RustynetError> {
  try {
    await p;
  } catch (err) {
    if (isRustynetError(err)) return err;
    throw err;
  }
  throw new Error('expected a RustynetError');
}

describe('OpenVpnBackend (fake runner)', () => {
  let root: string;
  let keyDir: string;
  let runner: FakeRunner;
  let logger: MemoryLogger;
  let backend: OpenVpnBackend;

  const startCfg = (over: Record<string, unknown> = {}) => ({
    nodeId: 'b',
    addresses: ['100.64.0.2/32', 'fd00::2/128'],
    listenPort: 51000,
    interfaceName: 'rn0',
    keyDirectory: keyDir,
    ...over,
  });

  beforeEach(async () => {
    root = mkdtempSync(join(tmpdir(), 'rn-ovpn-unit-'));
    keyDir = join(root, 'keys');
    await generateKeyPair(keyDir);
    runner = new FakeRunner();
    logger = new MemoryLogger();
    backend = new OpenVpnBackend(makeContext({ runner, stateDir: join(root, 'state'), logger, options: { restartBackoffMs: 10 } }));
  });

  afterEach(async () => {
    await backend.stop();
    rmSync(root, { recursive: true, force: true });
  });

  it('fails with NOT_RUNNING before start; stop is idempotent; start twice is ALREADY_RUNNING', async () => {
    expect((await failure(backend.applyPeers({ upsert: [], remove: [] }))).code).to.equal('NOT_RUNNING');
    expect((await failure(backend.applyRoutes({ add: [], remove: [] }))).code).to.equal('NOT_RUNNING');
    expect((await failure(backend.updatePeerEndpoint('a', { host: '198.18.0.1', port: 1 }))).code).to.equal('NOT_RUNNING');
    expect((await failure(backend.stats())).code).to.equal('NOT_RUNNING');
    await backend.stop();
    await backend.start(startCfg());
    expect((await failure(backend.start(startCfg()))).code).to.equal('ALREADY_RUNNING');
    await backend.stop();
    await backend.stop();
    expect((await failure(backend.stats())).code).to.equal('NOT_RUNNING');
    await backend.start(startCfg());
    expect((await backend.stats()).listenPort).to.equal(51000);
  });

  it('validates the start config, naming the field', async () => {
    const cases: Array<[Record<string, unknown>, string, string]> = [
      [{ interfaceName: 'much-too-long-name' }, 'INVALID_INPUT', 'interfaceName'],
      [{ interfaceName: 'bad name' }, 'INVALID_INPUT', 'interfaceName'],
      [{ addresses: ['fd00::2/128'] }, 'INVALID_INPUT', 'addresses'],
      [{ addresses: ['100.64.0.0/24'] }, 'INVALID_INPUT', 'addresses[0]'],
      [{ listenPort: 65000 }, 'INVALID_INPUT', 'listenPort'],
      [{ mtu: 100 }, 'INVALID_INPUT', 'mtu'],
      [{ nodeId: 'Not_An_Id' }, 'INVALID_INPUT', 'nodeId'],
      [{ keyDirectory: join(root, 'nokeys') }, 'KEY_INVALID', 'keyDirectory'],
    ];
    for (const [over, code, field] of cases) {
      const err = await failure(backend.start(startCfg(over)));
      expect([err.code, err.field], JSON.stringify(over)).to.deep.equal([code, field]);
    }
    // listenPort 0 picks the documented default base.
    await backend.start(startCfg({ listenPort: 0 }));
    expect((await backend.stats()).listenPort).to.equal(11194);
  });

  it('applies a batch with ONE ip process and one openvpn per peer; argv carries only --config', async () => {
    await backend.start(startCfg());
    const before = runner.calls.length;
    await backend.applyPeers({ upsert: [peer('a', 1), peer('c', 3), peer('d', 4, { endpoint: undefined as never })], remove: [] });
    const calls = runner.calls.slice(before);
    const ipCalls = calls.filter((c) => c.file === 'ip');
    expect(ipCalls).to.have.length(1);
    expect(ipCalls[0].args).to.deep.equal(['-force', '-batch', '-']);
    const lines = ipCalls[0].input!.trim().split('\n');
    expect(lines).to.include('tuntap add dev rn0p0 mode tun');
    expect(lines).to.include('tuntap add dev rn0p2 mode tun');
    expect(lines).to.include('addr add 100.64.0.2/32 dev rn0p1');
    expect(lines).to.include('route replace 100.64.0.3/32 dev rn0p1');
    expect(lines).to.include('route replace fd00::3/128 dev rn0p1');
    expect(lines).to.include('addr add fd00::2/128 dev rn0p1 nodad');
    const spawns = calls.filter((c) => c.kind === 'spawn');
    expect(spawns).to.have.length(3);
    for (const s of spawns) {
      expect(s.file).to.equal('openvpn');
      expect(s.args).to.have.length(2);
      expect(s.args[0]).to.equal('--config');
      expect(statSync(s.args[1]).mode & 0o777).to.equal(0o600);
      expect(s.env).to.equal(undefined);
    }
    const stats = await backend.stats();
    expect(stats.interfaces).to.deep.equal(['rn0p0', 'rn0p1', 'rn0p2']);
  });

  it('generates configs per the role and port rule, with no secrets inlined', async () => {
    await backend.start(startCfg());
    await backend.applyPeers({
      upsert: [peer('a', 1), peer('c', 3), peer('d', 4, { endpoint: undefined as never, persistentKeepalive: 25 })],
      remove: [],
    });
    const byPeer = new Map(runner.processes.map((p) => [/^peer-fingerprint (\S+)/m.exec(p.config)![1], p.config]));
    const a = byPeer.get(FP(1))!;
    const c = byPeer.get(FP(3))!;
    const d = byPeer.get(FP(4))!;
    // b > a: b is the TLS client towards a; b < c: server towards c.
    expect(a).to.match(/^tls-client$/m);
    expect(a).to.not.match(/^dh none$/m);
    expect(c).to.match(/^tls-server$/m);
    expect(c).to.match(/^dh none$/m);
    // b binds its base + offset(peer); sends to the peer's base + offset(b).
    expect(off('100.64.0.2')).to.equal(583);
    expect(a).to.match(/^lport 51582$/m);
    expect(a).to.match(/^remote 198\.18\.0\.1 51583$/m);
    expect(c).to.match(new RegExp(`^lport ${51000 + off('100.64.0.3')}$`, 'm'));
    expect(c).to.match(new RegExp(`^remote 198\\.18\\.0\\.3 ${51000 + off('100.64.0.2')}$`, 'm'));
    expect(d).to.not.match(/^remote /m);
    expect(d).to.match(/^ping 25$/m);
    expect(d).to.match(/^ping-restart 50$/m);
    expect(a).to.not.match(/^float$/m);
    expect(d).to.match(/^float$/m);
    for (const conf of [a, c, d]) {
      expect(conf).to.match(/^multihome$/m);
      expect(conf).to.match(/^ifconfig-noexec$/m);
      expect(conf).to.match(/^data-ciphers AES-256-GCM:CHACHA20-POLY1305$/m);
      expect(conf).to.match(new RegExp(`^key ${join(keyDir, KEY_FILE).replace(/[.]/g, '\\.')}$`, 'm'));
      expect(conf).to.match(/^management \S+\.sock unix$/m);
      expect(conf).to.not.match(/^(secret|tls-auth|tls-crypt|auth-user-pass)\b/m);
      expect(conf).to.not.include('PRIVATE KEY');
      expect(conf).to.match(/^ifconfig 100\.64\.0\.2 100\.64\.0\.\d$/m);
    }
  });

  it('rejects bad batches as a whole and changes nothing', async () => {
    await backend.start(startCfg());
    await backend.applyPeers({ upsert: [peer('a', 1)], remove: [] });
    const good = peer('c', 3);
    const cases: Array<[unknown, string, string]> = [
      [{ upsert: [good, { ...peer('d', 4), publicKey: 'AA:BB' }], remove: [] }, 'INVALID_INPUT', 'upsert[1].publicKey'],
      [{ upsert: [good, { ...peer('d', 4), publicKey: FP(4).toLowerCase() }], remove: [] }, 'INVALID_INPUT', 'upsert[1].publicKey'],
      [{ upsert: [good, peer('d', 4, { allowedIps: ['100.64.0.4/33'] })], remove: [] }, 'INVALID_INPUT', 'upsert[1].allowedIps[0]'],
      [{ upsert: [good, peer('d', 4, { allowedIps: ['10.0.0.1/8'] })], remove: [] }, 'INVALID_INPUT', 'upsert[1].allowedIps[0]'],
      [{ upsert: [good, peer('d', 4, { allowedIps: ['fd00::4/128'] })], remove: [] }, 'INVALID_INPUT', 'upsert[1].allowedIps'],
      [{ upsert: [good, peer('d', 4, { allowedIps: [] })], remove: [] }, 'INVALID_INPUT', 'upsert[1].allowedIps'],
      [
        { upsert: [good, peer('d', 4, { endpoint: { host: 'host.example', port: 1 } })], remove: [] },
        'INVALID_INPUT',
        'upsert[1].endpoint',
      ],
      [{ upsert: [good, peer('d', 4, { endpoint: { host: '198.18.0.4', port: 0 } })], remove: [] }, 'INVALID_INPUT', 'upsert[1].endpoint'],
      [
        { upsert: [good, peer('d', 4, { endpoint: { host: '198.18.0.4', port: 65535 } })], remove: [] },
        'INVALID_INPUT',
        'upsert[1].endpoint',
      ],
      [{ upsert: [good, peer('d', 4, { persistentKeepalive: -1 })], remove: [] }, 'INVALID_INPUT', 'upsert[1].persistentKeepalive'],
      [{ upsert: [good, peer('BAD', 4)], remove: [] }, 'INVALID_INPUT', 'upsert[1].id'],
      [{ upsert: [good, peer('b', 4)], remove: [] }, 'INVALID_INPUT', 'upsert[1].id'],
      [{ upsert: [good, peer('d', 2)], remove: [] }, 'INVALID_INPUT', 'upsert[1].allowedIps'],
      // An address outside a's /22 whose digit sum equals that of a's 100.64.0.1.
      [{ upsert: [good, peer('d', 4, { allowedIps: [`${COLLIDES_WITH_A}/32`] })], remove: [] }, 'INVALID_INPUT', 'upsert[1].allowedIps'],
      [{ upsert: [good, good], remove: [] }, 'DUPLICATE_PEER', 'upsert[1].id'],
      [{ upsert: [peer('d', 4), good, { ...good, allowedIps: ['100.64.77.0/24'] }], remove: [] }, 'DUPLICATE_PEER', 'upsert[2].id'],
      [{ upsert: [good], remove: ['c'] }, 'DUPLICATE_PEER', 'remove[0]'],
      [{ upsert: [], remove: ['a', 'a'] }, 'DUPLICATE_PEER', 'remove[1]'],
      [{ upsert: [good], remove: ['zz'] }, 'UNKNOWN_PEER', 'remove[0]'],
      [{ upsert: 'nope', remove: [] }, 'INVALID_INPUT', 'upsert'],
    ];
    const callsBefore = runner.calls.length;
    const statsBefore = await backend.stats();
    for (const [batch, code, field] of cases) {
      const err = await failure(backend.applyPeers(batch as never));
      expect([err.code, err.field], JSON.stringify(batch).slice(0, 200)).to.deep.equal([code, field]);
    }
    expect(runner.calls.length).to.equal(callsBefore);
    expect(await backend.stats()).to.deep.equal(statsBefore);
    // Replacing a's address while adding a peer that takes a's old offset is fine in one batch.
    await backend.applyPeers({ upsert: [peer('a', 5), peer('d', 4, { allowedIps: [`${COLLIDES_WITH_A}/32`] })], remove: [] });
  });

  it('refuses more than maxPeers peers with UNSUPPORTED', async () => {
    await backend.start(startCfg());
    const many = Array.from({ length: 129 }, (_, i) =>
      peer(`p${i}`, 10, { allowedIps: [`100.64.${Math.floor(i / 200) + 1}.${(i % 200) + 3}/32`] }),
    );
    const err = await failure(backend.applyPeers({ upsert: many, remove: [] }));
    expect(err.code).to.equal('UNSUPPORTED');
    expect(runner.processes).to.have.length(0);
  });

  it('starts a batch of 50 peers concurrently (all spawned before any is ready)', async () => {
    await backend.start(startCfg());
    runner.hold = true;
    const fifty = Array.from({ length: 50 }, (_, i) =>
      peer(`p${i}`, 10 + i, { allowedIps: [`100.64.1.${i + 1}/32`], endpoint: undefined as never }),
    );
    let settled = false;
    const applying = backend.applyPeers({ upsert: fifty, remove: [] }).finally(() => (settled = true));
    await runner.spawned(50);
    expect(settled).to.equal(false);
    runner.release();
    await applying;
    expect(backend.instances().filter((i) => i.state === 'running')).to.have.length(50);
  });

  it('updates allowed IPs without a restart; restarts on endpoint or key change', async () => {
    await backend.start(startCfg());
    await backend.applyPeers({ upsert: [peer('a', 1)], remove: [] });
    expect(runner.processes).to.have.length(1);
    await backend.applyPeers({ upsert: [peer('a', 1, { allowedIps: ['100.64.0.1/32', '10.10.0.0/16'] })], remove: [] });
    expect(runner.processes).to.have.length(1);
    expect(runner.processes[0].alive).to.equal(true);
    await backend.applyPeers({ upsert: [peer('a', 1, { endpoint: { host: '198.18.0.77', port: 51000 } })], remove: [] });
    expect(runner.processes).to.have.length(2);
    expect(runner.processes[0].alive).to.equal(false);
    expect(runner.processes[1].config).to.match(/^remote 198\.18\.0\.77 51583$/m);
    await backend.applyPeers({ upsert: [peer('a', 1, { publicKey: FP(99) })], remove: [] });
    expect(runner.processes).to.have.length(3);
    expect(runner.processes[2].config).to.include(`peer-fingerprint ${FP(99)}`);
    // A new overlay address re-addresses the same device and restarts with the new ifconfig/ports.
    await backend.applyRoutes({ add: [{ destination: '10.10.0.0/16', peer: 'a' }], remove: [] });
    const n = runner.calls.length;
    await backend.applyPeers({ upsert: [peer('a', 1, { publicKey: FP(99), allowedIps: ['100.64.0.9/32'] })], remove: [] });
    const ip = runner.calls.slice(n).find((c) => c.file === 'ip')!;
    expect(ip.input!.split('\n')).to.include.members([
      'addr flush dev rn0p0',
      'route flush dev rn0p0',
      'addr add 100.64.0.2/32 dev rn0p0',
      'route replace 100.64.0.9/32 dev rn0p0',
      'route replace 10.10.0.0/16 dev rn0p0',
    ]);
    expect(runner.processes).to.have.length(4);
    expect(runner.processes[3].config).to.match(/^ifconfig 100\.64\.0\.2 100\.64\.0\.9$/m);
    expect(runner.processes[3].config).to.match(new RegExp(`^lport ${51000 + off('100.64.0.9')}$`, 'm'));
  });

  it('updatePeerEndpoint restarts only that instance with the new remote', async () => {
    await backend.start(startCfg());
    await backend.applyPeers({ upsert: [peer('a', 1), peer('c', 3)], remove: [] });
    await backend.updatePeerEndpoint('c', { host: 'fd00:1::3', port: 52000 });
    expect(runner.processes).to.have.length(3);
    expect(runner.processes[2].config).to.match(/^remote fd00:1::3 52583$/m);
    expect(runner.processes.filter((p) => p.alive)).to.have.length(2);
    expect((await failure(backend.updatePeerEndpoint('zz', { host: '1.2.3.4', port: 1 }))).code).to.equal('UNKNOWN_PEER');
    expect((await failure(backend.updatePeerEndpoint('c', { host: 'nope', port: 1 }))).field).to.equal('endpoint');
    const s = (await backend.stats()).peers.find((p) => p.id === 'c')!;
    expect(s.endpoint).to.deep.equal({ host: 'fd00:1::3', port: 52000 });
  });

  it('takes a loopback (relay proxy) endpoint literally: no port offset, no settle wait; localPort per peer', async () => {
    await backend.start(startCfg());
    await backend.applyPeers({ upsert: [peer('a', 1), peer('c', 3)], remove: [] });
    const before = (await backend.stats()).peers.find((p) => p.id === 'c')!;
    expect(before.localPort).to.equal(51000 + off('100.64.0.3'));
    // 65535 + offset would overflow for a netmap endpoint; a proxy port is used as given.
    await backend.updatePeerEndpoint('c', { host: '127.0.0.1', port: 65535 });
    expect(runner.processes).to.have.length(3);
    expect(runner.processes[2].config).to.match(/^remote 127\.0\.0\.1 65535$/m);
    expect(runner.processes[2].config).to.match(new RegExp(`^lport ${51000 + off('100.64.0.3')}$`, 'm'));
    expect(runner.processes[2].config).to.not.match(/^local /m);
    await backend.updatePeerEndpoint('c', { host: '::1', port: 40000 });
    expect(runner.processes[3].config).to.match(/^remote ::1 40000$/m);
    // Back to the netmap endpoint: the offset applies again.
    await backend.updatePeerEndpoint('c', { host: '198.18.0.3', port: 51000 });
    expect(runner.processes[4].config).to.match(new RegExp(`^remote 198\\.18\\.0\\.3 ${51000 + off('100.64.0.2')}$`, 'm'));
    expect((await failure(backend.updatePeerEndpoint('c', { host: '198.18.0.3', port: 65535 }))).field).to.equal('endpoint');
    // applyPeers with a relayed endpoint (the reconciler re-applying a relayed peer) is literal too.
    await backend.applyPeers({ upsert: [peer('c', 3, { endpoint: { host: '127.0.0.1', port: 45000 } })], remove: [] });
    expect(runner.processes.at(-1)!.config).to.match(/^remote 127\.0\.0\.1 45000$/m);
  });

  it('reports stats from the management interface', async () => {
    await backend.start(startCfg());
    await backend.applyPeers({ upsert: [peer('a', 1)], remove: [] });
    const s = await backend.stats();
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
    backend = new OpenVpnBackend(
      makeContext({ runner, stateDir: join(root, 'state2'), logger, options: { restartBackoffMs: 60_000, restartBackoffMaxMs: 600_000 } }),
    );
    await backend.start(startCfg());
    await backend.applyPeers({ upsert: [peer('a', 1)], remove: [] });
    runner.processes[0].crash();
    await runner.processes[0].exited;
    await new Promise((r) => setImmediate(r));
    expect((await backend.stats()).peers[0].state).to.equal('restarting');
    expect(backend.instances()[0].restarts).to.equal(1);
    expect(logger.records.some((r) => r.level === 'warn' && r.msg?.includes('restarting'))).to.equal(true);
    // stop cancels the pending restart.
    await backend.stop();
    expect(runner.processes).to.have.length(1);
  });

  it('brings a crashed instance back after the backoff', async () => {
    await backend.start(startCfg());
    await backend.applyPeers({ upsert: [peer('a', 1)], remove: [] });
    runner.processes[0].crash();
    await runner.spawned(2);
    const ready = async (): Promise<void> => {
      while (backend.instances()[0].state !== 'running') await new Promise((r) => setImmediate(r));
    };
    await ready();
    expect(runner.processes[1].configPath).to.equal(runner.processes[0].configPath);
    expect((await backend.stats()).peers[0].state).to.equal('up');
  });

  it('applies routes in one ip call via the peer device, with validation', async () => {
    await backend.start(startCfg());
    await backend.applyPeers({ upsert: [peer('a', 1), peer('c', 3)], remove: [] });
    const before = runner.calls.length;
    await backend.applyRoutes({
      add: [
        { destination: '10.1.0.0/16', peer: 'c' },
        { destination: 'fd00:77::/64', peer: 'a' },
      ],
      remove: [],
    });
    const ip = runner.calls.slice(before).filter((c) => c.file === 'ip');
    expect(ip).to.have.length(1);
    expect(ip[0].input).to.equal('route replace 10.1.0.0/16 dev rn0p1\nroute replace fd00:77::/64 dev rn0p0\n');
    const cases: Array<[unknown, string, string]> = [
      [{ add: [{ destination: '10.2.0.0/16', peer: 'zz' }], remove: [] }, 'UNKNOWN_PEER', 'add[0].peer'],
      [{ add: [{ destination: '10.2.0.1/16', peer: 'a' }], remove: [] }, 'INVALID_INPUT', 'add[0].destination'],
      [{ add: [{ destination: '198.18.0.0/16', peer: 'a' }], remove: [] }, 'INVALID_INPUT', 'add[0].destination'],
      [
        {
          add: [
            { destination: '10.3.0.0/16', peer: 'a' },
            { destination: '10.3.0.0/16', peer: 'c' },
          ],
          remove: [],
        },
        'INVALID_INPUT',
        'add[1].destination',
      ],
    ];
    const n = runner.calls.length;
    for (const [change, code, field] of cases) {
      const err = await failure(backend.applyRoutes(change as never));
      expect([err.code, err.field]).to.deep.equal([code, field]);
    }
    expect(runner.calls.length).to.equal(n);
    // Removing a peer drops its routes with its device; later removals naming it are no-ops.
    await backend.applyPeers({ upsert: [], remove: ['c'] });
    const m = runner.calls.length;
    await backend.applyRoutes({ add: [], remove: [{ destination: '10.1.0.0/16', peer: 'c' }] });
    expect(runner.calls.length).to.equal(m);
    await backend.applyRoutes({ add: [], remove: [{ destination: 'fd00:77::/64', peer: 'a' }] });
    expect(runner.calls.at(-1)!.input).to.equal('route del fd00:77::/64 dev rn0p0\n');
  });

  it('puts exit routes in their own table behind fwmark policy rules, and removes the rules with the last one', async () => {
    await backend.start(startCfg());
    await backend.applyPeers({ upsert: [peer('a', 1), peer('c', 3)], remove: [] });
    expect(runner.processes[0].config).to.match(/^mark 20310$/m);
    let n = runner.calls.length;
    await backend.applyRoutes({
      add: [
        { destination: '0.0.0.0/0', peer: 'a' },
        { destination: '::/0', peer: 'a' },
      ],
      remove: [],
    });
    let ip = runner.calls.slice(n).filter((c) => c.file === 'ip');
    expect(ip.map((c) => c.args)).to.deep.equal([
      ['-6', '-batch', '-'],
      ['-batch', '-'],
    ]);
    const rules = 'rule add table main suppress_prefixlength 0 pref 20310\nrule add not fwmark 20310 table 20310 pref 20311\n';
    expect(ip[0].input).to.equal(rules);
    expect(ip[1].input).to.equal('route replace 0.0.0.0/0 dev rn0p0 table 20310\nroute replace ::/0 dev rn0p0 table 20310\n' + rules);
    // Moving the exit node to c keeps the rules.
    n = runner.calls.length;
    await backend.applyRoutes({ add: [{ destination: '0.0.0.0/0', peer: 'c' }], remove: [{ destination: '0.0.0.0/0', peer: 'a' }] });
    ip = runner.calls.slice(n).filter((c) => c.file === 'ip');
    expect(ip.map((c) => c.input)).to.deep.equal([
      'route del 0.0.0.0/0 dev rn0p0 table 20310\nroute replace 0.0.0.0/0 dev rn0p1 table 20310\n',
    ]);
    // Removing peer a drops its ::/0 route with its device, and the IPv6 rules with it.
    n = runner.calls.length;
    await backend.applyPeers({ upsert: [], remove: ['a'] });
    ip = runner.calls.slice(n).filter((c) => c.file === 'ip');
    expect(ip[0].args).to.deep.equal(['-6', '-force', '-batch', '-']);
    expect(ip[0].input).to.include('rule del not fwmark 20310 table 20310 pref 20311');
    n = runner.calls.length;
    await backend.stop();
    ip = runner.calls.slice(n).filter((c) => c.file === 'ip');
    expect(ip.some((c) => c.input?.includes('rule del table main suppress_prefixlength 0 pref 20310') && !c.args.includes('-6'))).to.equal(
      true,
    );
  });

  it('reports BACKEND_FAILED when ip fails and leaves no half-made peer', async () => {
    await backend.start(startCfg());
    runner.failIp = /tuntap add/;
    const err = await failure(backend.applyPeers({ upsert: [peer('a', 1)], remove: [] }));
    expect(err.code).to.equal('BACKEND_FAILED');
    expect((await backend.stats()).peers).to.deep.equal([]);
    expect(runner.processes).to.have.length(0);
    runner.failIp = undefined;
    await backend.applyPeers({ upsert: [peer('a', 1)], remove: [] });
    expect((await backend.stats()).peers).to.have.length(1);
  });

  it('removes stale devices of an earlier run at start', async () => {
    runner.extraLinks = ['7: rn0p3: <POINTOPOINT>', '8: rn0p3x: <POINTOPOINT>', '9: other0: <BROADCAST>'];
    await backend.start(startCfg());
    const del = runner.calls.find((c) => c.file === 'ip' && c.input?.includes('tuntap del'));
    expect(del?.input).to.equal('tuntap del dev rn0p3 mode tun\n');
  });

  it('stop kills every instance, deletes every device and removes its files', async () => {
    await backend.start(startCfg());
    await backend.applyPeers({ upsert: [peer('a', 1), peer('c', 3)], remove: [] });
    const confDir = join(root, 'state', 'openvpn');
    expect(existsSync(confDir)).to.equal(true);
    await backend.stop();
    expect(runner.processes.every((p) => !p.alive)).to.equal(true);
    const last = runner.calls.filter((c) => c.file === 'ip').at(-1)!;
    expect(last.args).to.deep.equal(['-force', '-batch', '-']);
    expect(last.input).to.equal('tuntap del dev rn0p0 mode tun\ntuntap del dev rn0p1 mode tun\n');
    expect(existsSync(confDir)).to.equal(false);
    // Nothing secret was logged.
    const key = readFileSync(join(keyDir, KEY_FILE), 'utf8').split('\n')[1];
    expect(JSON.stringify(logger.records)).to.not.include(key.slice(0, 40));
  });
});
