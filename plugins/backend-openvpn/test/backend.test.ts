/**
 * Unit tests of the backend against a recording fake runner: life cycle, validation, batching,
 * generated configs, the port/role rule and peer updates. No network, no root. Routes are in
 * backend-routes.test.ts, supervision and teardown in backend-supervision.test.ts.
 */
import { expect } from 'chai';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { KEY_FILE } from '../src/keys.js';
import { COLLIDES_WITH_A, FP, failure, off, peer, useFakeBackend } from './support/backend-fixture.js';

describe('OpenVpnBackend (fake runner)', () => {
  const t = useFakeBackend();

  it('fails with NOT_RUNNING before start; stop is idempotent; start twice is ALREADY_RUNNING', async () => {
    expect((await failure(t.backend.applyPeers({ upsert: [], remove: [] }))).code).to.equal('NOT_RUNNING');
    expect((await failure(t.backend.applyRoutes({ add: [], remove: [] }))).code).to.equal('NOT_RUNNING');
    expect((await failure(t.backend.updatePeerEndpoint('a', { host: '198.18.0.1', port: 1 }))).code).to.equal('NOT_RUNNING');
    expect((await failure(t.backend.stats())).code).to.equal('NOT_RUNNING');
    await t.backend.stop();
    await t.backend.start(t.startCfg());
    expect((await failure(t.backend.start(t.startCfg()))).code).to.equal('ALREADY_RUNNING');
    await t.backend.stop();
    await t.backend.stop();
    expect((await failure(t.backend.stats())).code).to.equal('NOT_RUNNING');
    await t.backend.start(t.startCfg());
    expect((await t.backend.stats()).listenPort).to.equal(51000);
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
      [{ keyDirectory: join(t.root, 'nokeys') }, 'KEY_INVALID', 'keyDirectory'],
    ];
    for (const [over, code, field] of cases) {
      const err = await failure(t.backend.start(t.startCfg(over)));
      expect([err.code, err.field], JSON.stringify(over)).to.deep.equal([code, field]);
    }
    // listenPort 0 picks the documented default base.
    await t.backend.start(t.startCfg({ listenPort: 0 }));
    expect((await t.backend.stats()).listenPort).to.equal(11194);
  });

  it('applies a batch with ONE ip process and one openvpn per peer; argv carries only --config', async () => {
    await t.backend.start(t.startCfg());
    const before = t.runner.calls.length;
    await t.backend.applyPeers({ upsert: [peer('a', 1), peer('c', 3), peer('d', 4, { endpoint: undefined as never })], remove: [] });
    const calls = t.runner.calls.slice(before);
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
    const stats = await t.backend.stats();
    expect(stats.interfaces).to.deep.equal(['rn0p0', 'rn0p1', 'rn0p2']);
  });

  it('generates configs per the role and port rule, with no secrets inlined', async () => {
    await t.backend.start(t.startCfg());
    await t.backend.applyPeers({
      upsert: [peer('a', 1), peer('c', 3), peer('d', 4, { endpoint: undefined as never, persistentKeepalive: 25 })],
      remove: [],
    });
    const byPeer = new Map(t.runner.processes.map((p) => [/^peer-fingerprint (\S+)/m.exec(p.config)![1], p.config]));
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
      expect(conf).to.match(new RegExp(`^key ${join(t.keyDir, KEY_FILE).replace(/[.]/g, '\\.')}$`, 'm'));
      expect(conf).to.match(/^management \S+\.sock unix$/m);
      expect(conf).to.not.match(/^(secret|tls-auth|tls-crypt|auth-user-pass)\b/m);
      expect(conf).to.not.include('PRIVATE KEY');
      expect(conf).to.match(/^ifconfig 100\.64\.0\.2 100\.64\.0\.\d$/m);
    }
  });

  it('rejects bad batches as a whole and changes nothing', async () => {
    await t.backend.start(t.startCfg());
    await t.backend.applyPeers({ upsert: [peer('a', 1)], remove: [] });
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
    const callsBefore = t.runner.calls.length;
    const statsBefore = await t.backend.stats();
    for (const [batch, code, field] of cases) {
      const err = await failure(t.backend.applyPeers(batch as never));
      expect([err.code, err.field], JSON.stringify(batch).slice(0, 200)).to.deep.equal([code, field]);
    }
    expect(t.runner.calls.length).to.equal(callsBefore);
    expect(await t.backend.stats()).to.deep.equal(statsBefore);
    // Replacing a's address while adding a peer that takes a's old offset is fine in one batch.
    await t.backend.applyPeers({ upsert: [peer('a', 5), peer('d', 4, { allowedIps: [`${COLLIDES_WITH_A}/32`] })], remove: [] });
  });

  it('refuses more than maxPeers peers with UNSUPPORTED', async () => {
    await t.backend.start(t.startCfg());
    const many = Array.from({ length: 129 }, (_, i) =>
      peer(`p${i}`, 10, { allowedIps: [`100.64.${Math.floor(i / 200) + 1}.${(i % 200) + 3}/32`] }),
    );
    const err = await failure(t.backend.applyPeers({ upsert: many, remove: [] }));
    expect(err.code).to.equal('UNSUPPORTED');
    expect(t.runner.processes).to.have.length(0);
  });

  it('starts a batch of 50 peers concurrently (all spawned before any is ready)', async () => {
    await t.backend.start(t.startCfg());
    t.runner.hold = true;
    const fifty = Array.from({ length: 50 }, (_, i) =>
      peer(`p${i}`, 10 + i, { allowedIps: [`100.64.1.${i + 1}/32`], endpoint: undefined as never }),
    );
    let settled = false;
    const applying = t.backend.applyPeers({ upsert: fifty, remove: [] }).finally(() => (settled = true));
    await t.runner.spawned(50);
    expect(settled).to.equal(false);
    t.runner.release();
    await applying;
    expect(t.backend.instances().filter((i) => i.state === 'running')).to.have.length(50);
  });

  it('updates allowed IPs without a restart; restarts on endpoint or key change', async () => {
    await t.backend.start(t.startCfg());
    await t.backend.applyPeers({ upsert: [peer('a', 1)], remove: [] });
    expect(t.runner.processes).to.have.length(1);
    await t.backend.applyPeers({ upsert: [peer('a', 1, { allowedIps: ['100.64.0.1/32', '10.10.0.0/16'] })], remove: [] });
    expect(t.runner.processes).to.have.length(1);
    expect(t.runner.processes[0].alive).to.equal(true);
    await t.backend.applyPeers({ upsert: [peer('a', 1, { endpoint: { host: '198.18.0.77', port: 51000 } })], remove: [] });
    expect(t.runner.processes).to.have.length(2);
    expect(t.runner.processes[0].alive).to.equal(false);
    expect(t.runner.processes[1].config).to.match(/^remote 198\.18\.0\.77 51583$/m);
    await t.backend.applyPeers({ upsert: [peer('a', 1, { publicKey: FP(99) })], remove: [] });
    expect(t.runner.processes).to.have.length(3);
    expect(t.runner.processes[2].config).to.include(`peer-fingerprint ${FP(99)}`);
    // A new overlay address re-addresses the same device and restarts with the new ifconfig/ports.
    await t.backend.applyRoutes({ add: [{ destination: '10.10.0.0/16', peer: 'a' }], remove: [] });
    const n = t.runner.calls.length;
    await t.backend.applyPeers({ upsert: [peer('a', 1, { publicKey: FP(99), allowedIps: ['100.64.0.9/32'] })], remove: [] });
    const ip = t.runner.calls.slice(n).find((c) => c.file === 'ip')!;
    expect(ip.input!.split('\n')).to.include.members([
      'addr flush dev rn0p0',
      'route flush dev rn0p0',
      'addr add 100.64.0.2/32 dev rn0p0',
      'route replace 100.64.0.9/32 dev rn0p0',
      'route replace 10.10.0.0/16 dev rn0p0',
    ]);
    expect(t.runner.processes).to.have.length(4);
    expect(t.runner.processes[3].config).to.match(/^ifconfig 100\.64\.0\.2 100\.64\.0\.9$/m);
    expect(t.runner.processes[3].config).to.match(new RegExp(`^lport ${51000 + off('100.64.0.9')}$`, 'm'));
  });

  it('updatePeerEndpoint restarts only that instance with the new remote', async () => {
    await t.backend.start(t.startCfg());
    await t.backend.applyPeers({ upsert: [peer('a', 1), peer('c', 3)], remove: [] });
    await t.backend.updatePeerEndpoint('c', { host: 'fd00:1::3', port: 52000 });
    expect(t.runner.processes).to.have.length(3);
    expect(t.runner.processes[2].config).to.match(/^remote fd00:1::3 52583$/m);
    expect(t.runner.processes.filter((p) => p.alive)).to.have.length(2);
    expect((await failure(t.backend.updatePeerEndpoint('zz', { host: '1.2.3.4', port: 1 }))).code).to.equal('UNKNOWN_PEER');
    expect((await failure(t.backend.updatePeerEndpoint('c', { host: 'nope', port: 1 }))).field).to.equal('endpoint');
    const s = (await t.backend.stats()).peers.find((p) => p.id === 'c')!;
    expect(s.endpoint).to.deep.equal({ host: 'fd00:1::3', port: 52000 });
  });

  it('takes a loopback (relay proxy) endpoint literally: no port offset, no settle wait; localPort per peer', async () => {
    await t.backend.start(t.startCfg());
    await t.backend.applyPeers({ upsert: [peer('a', 1), peer('c', 3)], remove: [] });
    const before = (await t.backend.stats()).peers.find((p) => p.id === 'c')!;
    expect(before.localPort).to.equal(51000 + off('100.64.0.3'));
    // 65535 + offset would overflow for a netmap endpoint; a proxy port is used as given.
    await t.backend.updatePeerEndpoint('c', { host: '127.0.0.1', port: 65535 });
    expect(t.runner.processes).to.have.length(3);
    expect(t.runner.processes[2].config).to.match(/^remote 127\.0\.0\.1 65535$/m);
    expect(t.runner.processes[2].config).to.match(new RegExp(`^lport ${51000 + off('100.64.0.3')}$`, 'm'));
    expect(t.runner.processes[2].config).to.not.match(/^local /m);
    await t.backend.updatePeerEndpoint('c', { host: '::1', port: 40000 });
    expect(t.runner.processes[3].config).to.match(/^remote ::1 40000$/m);
    // Back to the netmap endpoint: the offset applies again.
    await t.backend.updatePeerEndpoint('c', { host: '198.18.0.3', port: 51000 });
    expect(t.runner.processes[4].config).to.match(new RegExp(`^remote 198\\.18\\.0\\.3 ${51000 + off('100.64.0.2')}$`, 'm'));
    expect((await failure(t.backend.updatePeerEndpoint('c', { host: '198.18.0.3', port: 65535 }))).field).to.equal('endpoint');
    // applyPeers with a relayed endpoint (the reconciler re-applying a relayed peer) is literal too.
    await t.backend.applyPeers({ upsert: [peer('c', 3, { endpoint: { host: '127.0.0.1', port: 45000 } })], remove: [] });
    expect(t.runner.processes.at(-1)!.config).to.match(/^remote 127\.0\.0\.1 45000$/m);
  });
});
