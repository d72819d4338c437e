import { expect } from 'chai';
import { execFileSync, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { TestNetwork, cleanStaleNetworks } from '../src/harness/index.js';

function netnsList(): string[] {
  return execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' })
    .split('\n')
    .map((l) => l.split(' ')[0])
    .filter(Boolean);
}

describe('harness: TestNetwork (int)', function () {
  this.timeout(60_000);
  let net: TestNetwork;
  before(async () => {
    net = await TestNetwork.create({ hosts: ['a', 'b', 'c'] });
  });
  after(async () => {
    await net?.destroy();
  });

  it('creates one namespace per host plus the switch, with per-run names', () => {
    const list = netnsList();
    for (const ns of net.namespaces) expect(list).to.include(ns);
    expect(net.prefix).to.match(/^rnt-[0-9a-f]{4}$/);
    expect(net.host('b').underlayAddress).to.equal('198.18.0.2');
  });

  it('pings between two hosts over the underlay', async () => {
    expect(await net.host('a').ping('198.18.0.2')).to.equal(true);
    expect(await net.host('a').ping('198.18.0.9', { attempts: 1 })).to.equal(false);
  });

  it('echoes UDP and TCP, answers whoami with the host name', async () => {
    const a = net.host('a');
    const b = net.host('b');
    const u = await b.udpEchoServer(7000);
    const t = await b.tcpEchoServer(7001);
    expect((await a.udpSend('198.18.0.2', 7000, 'hello'))?.toString()).to.equal('hello');
    expect((await a.udpSend('198.18.0.2', 7000, 'whoami'))?.toString()).to.equal('b');
    const many = Array.from({ length: 50 }, (_, i) => `m${i}`);
    expect(await a.udpEchoMany('198.18.0.2', 7000, many)).to.be.greaterThan(45);
    const big = Buffer.alloc(200_000, 7);
    expect((await a.tcpSend('198.18.0.2', 7001, big))?.equals(big)).to.equal(true);
    await u.close();
    await t.close();
  });

  it('captures on the underlay and sees a plain marker', async () => {
    const a = net.host('a');
    const b = net.host('b');
    const srv = await b.udpEchoServer(7002);
    const cap = await b.capture({ filter: ['udp'] });
    await a.udpSend('198.18.0.2', 7002, 'MARKER-plain-1234');
    const bytes = await cap.stop();
    expect(bytes.includes(Buffer.from('MARKER-plain-1234'))).to.equal(true);
    await srv.close();
  });

  it('blocks and unblocks a path with nftables in the host namespace', async () => {
    const a = net.host('a');
    const c = net.host('c');
    await a.blockPath(c);
    expect(await a.ping(c.underlayAddress, { attempts: 1 })).to.equal(false);
    expect(await a.ping('198.18.0.2', { attempts: 1 })).to.equal(true);
    await a.unblockPath(c);
    expect(await a.ping(c.underlayAddress)).to.equal(true);
    await a.dropShare(100);
    expect(await a.ping(c.underlayAddress, { attempts: 1 })).to.equal(false);
    await a.clearFaults();
    expect(await a.ping(c.underlayAddress)).to.equal(true);
  });

  it('destroy removes every namespace and is idempotent', async () => {
    const n2 = await TestNetwork.create({ hosts: 2 });
    await n2.host('h0').udpEchoServer(9);
    await n2.destroy();
    await n2.destroy();
    const list = netnsList();
    for (const ns of n2.namespaces) expect(list).not.to.include(ns);
  });

  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    it(`a process interrupted by ${sig} removes its namespaces`, async () => {
      const child = spawn(process.execPath, [fileURLToPath(new URL('./helpers/sigint-child.js', import.meta.url))], {
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      const namespaces = await new Promise<string[]>((resolve, reject) => {
        let buf = '';
        child.stdout.on('data', (d: Buffer) => {
          buf += d.toString();
          if (buf.includes('\n')) resolve(JSON.parse(buf.split('\n')[0]) as string[]);
        });
        child.once('exit', (c) => reject(new Error(`child exited early: ${c}`)));
      });
      for (const ns of namespaces) expect(netnsList()).to.include(ns);
      const exited = new Promise<number | null>((r) => child.once('exit', (c) => r(c)));
      child.kill(sig);
      expect(await exited).to.equal(sig === 'SIGINT' ? 130 : 143);
      const list = netnsList();
      for (const ns of namespaces) expect(list).not.to.include(ns);
    });
  }

  it('pre-clean removes namespaces of dead runs only', () => {
    execFileSync('ip', ['netns', 'add', 'rnt-dead-x']);
    const removed = cleanStaleNetworks();
    expect(removed).to.include('rnt-dead-x');
    expect(removed.some((r) => r.startsWith(net.prefix))).to.equal(false);
    expect(netnsList()).to.include(`${net.prefix}-a`);
  });
});
