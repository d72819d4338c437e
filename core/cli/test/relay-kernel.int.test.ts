/**
 * Integration test (root): the relay's kernel fast path (docs/relay.md "Kernel fast path").
 *
 * A mesh of real `rustynetd` (WireGuard on wireguard-go) with the relay client's `fastPath` and
 * `rustynet relay serve --kernel-forwarding` in the relay host's namespace (IP forwarding on in
 * that namespace only; nothing touches the root namespace). With the direct path a<->b blocked:
 * - pings pass through the relay, the backend's endpoint for the peer is the relay's allocation
 *   port (not a loopback proxy), and the relay's nftables pair counters grow;
 * - a marker datagram sent to a's allocation port from a's address but another port, or from c,
 *   is not forwarded to b (b counts the marker on arrival: 0), while the same marker rewritten in
 *   a's namespace to come from a's backend port is (positive control);
 * - a datagram sent with a full UDP checksum (raw socket, no offload) reaches b with a valid checksum
 *   after the relay's address and port rewrite (tcpdump -vv at b: "udp sum ok"; InCsumErrors unchanged);
 * - SIGTERM removes the relay's table; after kill -9 the table (and its pairs) is left behind,
 *   and the next start flushes it; the clients then get their previous allocation ports again
 *   (the backends' endpoints stay valid) and pings pass.
 */
import { expect } from 'chai';
import { readFile, readdir } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { Mesh, sleep } from '@rustynet/testbed';
import { checkPrerequisites } from '@rustynet/testbed';
import { REPO_ROOT, describeEachRelayBackend } from './mesh-fixture.js';

const BACKENDS: string[] = ['@rustynet/backend-wireguard'];
const MARKER = 'RUNY'; // 0x52554e59: never the start of a WireGuard message (type 1..4, then zeros)

async function relayPid(mesh: Mesh): Promise<number> {
  for (const d of await readdir('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    const cmd = await readFile(`/proc/${d}/cmdline`, 'utf8').catch(() => '');
    if (cmd.includes('relay\0serve') && cmd.includes(mesh.relayNetmapFile)) return Number(d);
  }
  throw new Error('relay server process not found');
}

await describeEachRelayBackend(
  BACKENDS,
  (backend) => `relay kernel fast path (${backend})`,
  function (backend) {
    this.timeout(180_000);
    let mesh: Mesh | undefined;
    const m = (): Mesh => {
      if (!mesh) throw new Error('mesh not created (see the before-all hook error)');
      return mesh;
    };
    const relayNft = async (...args: string[]): Promise<string> => (await m().relayHost!.exec('nft', args, { reject: false })).stdout;
    /**
     * The pairs' forwarding keys (source address . port . relay address . allocation port), sorted.
     * The chain each key jumps to is an internal label, which a re-installed pair may swap.
     */
    const preElements = async (): Promise<string[]> =>
      (
        (await relayNft('list', 'map', 'netdev', 'rustynet_relay', 'pre')) +
        (await relayNft('list', 'map', 'inet', 'rustynet_relay', 'pre'))
      )
        .split('\n')
        .map((l) => /(\d+\.\d+\.\d+\.\d+ \. \d+ \. \d+\.\d+\.\d+\.\d+ \. \d+)/.exec(l)?.[1])
        .filter((k): k is string => k !== undefined)
        .sort();

    before(async function () {
      const problems = checkPrerequisites([backend], { dns: false });
      if (problems.length > 0) throw new Error(`prerequisites: ${problems.join('; ')}`);
      mesh = await Mesh.create({
        backends: [backend],
        nodes: ['a', 'b', 'c'],
        relay: true,
        logLevel: 'info',
        cwd: REPO_ROOT,
        namePrefix: `rkf-${randomBytes(3).toString('hex')}`,
        relayExtraArgs: ['--kernel-forwarding'],
        relayClientOptions: { fastPath: true },
      });
      await mesh.relayHost!.exec('sysctl', ['-qw', 'net.ipv4.ip_forward=1']);
      await mesh.publish(await mesh.sign(mesh.netmap(1)));
      await mesh.startDaemons(backend, 1);
      await mesh.waitFor((_id, s) => s.state === 'up', 'all up', 60_000);
    });

    after(async () => {
      await mesh?.destroy();
    });

    it('relays a<->b through kernel forwarding: allocation endpoint, counters grow, userspace idle', async () => {
      const mesh = m();
      const out = await readFile(mesh.relayOutFile, 'utf8');
      expect(out).to.include('kernel forwarding active');
      await mesh.blockDirect('a', 'b');
      const t0 = Date.now();
      await mesh.waitForPath(
        [
          ['a', 'b'],
          ['b', 'a'],
        ],
        'relay',
        20_000,
      );
      const b = mesh.node('b');
      expect(await mesh.node('a').host.ping(b.v4, { attempts: 20, timeoutS: 1 }), 'ping a -> b through the fast path').to.equal(true);
      console.log(`      block -> first relayed reply ${Date.now() - t0} ms`);
      const ep = (await mesh.status('a')).peers.find((p) => p.id === 'b')?.endpoint ?? '';
      expect(ep, "a's endpoint for b").to.match(new RegExp(`^${mesh.relayHost!.underlayAddress.replace(/\./g, '\\.')}:\\d+$`));
      expect(await preElements(), 'the pair: one element per direction').to.have.length(2);
      // The netdev table (ingress + fwd) when the relay's nft and kernel support it, as here.
      expect(out).to.include('table netdev rustynet_relay');
      // Each direction's chain applies its node's packet and byte limits (named limit objects in that table).
      const table = await relayNft('list', 'table', 'netdev', 'rustynet_relay');
      expect(table.match(/limit name "[a-z0-9]+[pb]" drop/g) ?? [], 'limit rules').to.have.length(4);
      expect(table.match(/^\s*limit [a-z0-9]+[pb] \{/gm) ?? [], 'limit objects').to.have.length(4);
      const counters = await relayNft('list', 'counters', 'table', 'netdev', 'rustynet_relay');
      const pkts = [...counters.matchAll(/packets (\d+)/g)].map((x) => Number(x[1]));
      expect(pkts.length).to.equal(2);
      for (const p of pkts) expect(p, 'both directions forwarded in the kernel').to.be.greaterThan(0);
    });

    it('does not forward datagrams from another port of a, or from c; does forward from a backend port (control)', async () => {
      const mesh = m();
      const [a, b, c] = [mesh.node('a'), mesh.node('b'), mesh.node('c')];
      const relayIp = mesh.relayHost!.underlayAddress;
      const ep = (await mesh.status('a')).peers.find((p) => p.id === 'b')?.endpoint ?? '';
      const allocPort = Number(ep.split(':')[1]);
      expect(allocPort).to.be.greaterThan(0);
      const backendPort = mesh.opts.listenPort;
      // b counts markers arriving from the relay.
      await b.host.exec('nft', ['-f', '-'], {
        input: `table inet rkf_count {\n chain in {\n  type filter hook input priority -10; policy accept;\n  ip saddr ${relayIp} @th,64,32 0x52554e59 counter\n }\n}\n`,
      });
      const countAtB = async (): Promise<number> => {
        const t = (await b.host.exec('nft', ['list', 'table', 'inet', 'rkf_count'])).stdout;
        return Number(/packets (\d+)/.exec(t)?.[1] ?? NaN);
      };
      const send = (host: typeof a.host, srcPort: number, n: number): Promise<unknown> =>
        host.exec('node', [
          '-e',
          `const s=require('dgram').createSocket('udp4');let i=0;s.bind(${srcPort},()=>{const f=()=>{if(i++>=${n})return s.close();s.send(Buffer.from('${MARKER}spoofed'),${allocPort},'${relayIp}',f)};f()})`,
        ]);
      await send(a.host, 0, 20); // a's address, another (ephemeral) port
      await send(c.host, backendPort + 7, 20); // another node, to a's allocation
      await sleep(500);
      expect(await countAtB(), 'spoofed markers forwarded to b').to.equal(0);
      // Control: in a's namespace, rewrite the marker's source port to a's backend port: forwarded.
      await a.host.exec('nft', ['-f', '-'], {
        input: `table inet rkf_ctl {\n chain out {\n  type filter hook output priority raw; policy accept;\n  ip daddr ${relayIp} udp dport ${allocPort} @th,64,32 0x52554e59 notrack udp sport set ${backendPort}\n }\n}\n`,
      });
      await send(a.host, 0, 20);
      await sleep(500);
      expect(await countAtB(), 'markers from a backend port forwarded to b').to.equal(20);
      await a.host.exec('nft', ['delete', 'table', 'inet', 'rkf_ctl']);
      await b.host.exec('nft', ['delete', 'table', 'inet', 'rkf_count']);
    });

    it('keeps the UDP checksum correct through the rewrite (full checksums, tcpdump -vv at b)', async function () {
      const mesh = m();
      const [a, b] = [mesh.node('a'), mesh.node('b')];
      const relayIp = mesh.relayHost!.underlayAddress;
      const ep = (await mesh.status('a')).peers.find((p) => p.id === 'b')?.endpoint ?? '';
      const allocPort = Number(ep.split(':')[1]);
      const src = (JSON.parse((await a.host.exec('ip', ['-j', 'route', 'get', relayIp])).stdout) as { prefsrc: string }[])[0].prefsrc;
      if ((await a.host.exec('python3', ['-c', 'pass'], { reject: false })).exitCode !== 0) return this.skip(); // raw sender needs python3
      // A raw socket sends datagrams with a complete UDP checksum (no offload: CHECKSUM_NONE all the way),
      // so b sees the bytes exactly as the relay rewrote them.
      const sender = [
        'import socket,struct,sys',
        'src,dst,sp,dp=sys.argv[1],sys.argv[2],int(sys.argv[3]),int(sys.argv[4])',
        "pl=b'RUNYcsum'+bytes(range(37))",
        'n=8+len(pl)',
        "ph=socket.inet_aton(src)+socket.inet_aton(dst)+struct.pack('!BBH',0,17,n)",
        "d=ph+struct.pack('!HHHH',sp,dp,n,0)+pl+b'\\0'",
        "t=sum(struct.unpack('!%dH'%(len(d)//2),d[:len(d)//2*2]))",
        't=(t&0xffff)+(t>>16)',
        't=(t&0xffff)+(t>>16)',
        'c=(~t)&0xffff or 0xffff',
        's=socket.socket(socket.AF_INET,socket.SOCK_RAW,socket.IPPROTO_UDP)',
        "[s.sendto(struct.pack('!HHHH',sp,dp,n,c)+pl,(dst,0)) for i in range(5)]",
      ].join('\n');
      const csumErrors = async (): Promise<number> => {
        const snmp = (await b.host.exec('cat', ['/proc/net/snmp'])).stdout.split('\n').filter((l) => l.startsWith('Udp:'));
        const [names, values] = snmp.map((l) => l.split(/\s+/));
        return Number(values[names.indexOf('InCsumErrors')]);
      };
      const errorsBefore = await csumErrors();
      const capture = b.host.exec(
        'timeout',
        ['10', 'tcpdump', '-i', 'any', '-n', '-vv', '-c', '5', `src host ${relayIp} and udp[8:4] = 0x52554e59`],
        {
          reject: false,
        },
      );
      await sleep(1500);
      await a.host.exec('python3', ['-c', sender, src, relayIp, String(mesh.opts.listenPort), String(allocPort)]);
      const out = (await capture).stdout;
      console.log(
        `      ${out.split('\n').filter((l) => l.includes('udp')).length} datagrams at b: ${/\[(udp sum ok|bad udp cksum[^\]]*)\]/.exec(out)?.[1]}`,
      );
      expect(out.match(/\[udp sum ok\]/g) ?? [], `tcpdump at b:\n${out}`).to.have.length(5);
      expect(out).not.to.include('bad udp cksum');
      expect(await csumErrors(), "b's UDP InCsumErrors").to.equal(errorsBefore);
    });

    it('SIGTERM removes the table; after kill -9 the next start flushes what was left', async () => {
      const mesh = m();
      expect(await relayNft('list', 'tables')).to.include('rustynet_relay');
      await mesh.stopRelayServer();
      expect(await relayNft('list', 'tables'), 'table after SIGTERM').not.to.include('rustynet_relay');
      await mesh.startRelayServer();
      // The clients register again (a keepalive meets REJECT NOT_REGISTERED) and re-allocate with their keepalives.
      const end = Date.now() + 60_000;
      let before: string[] = [];
      while (Date.now() < end && before.length === 0) {
        await sleep(1000);
        before = await preElements();
      }
      expect(before.length, 'a pair installed again after the restart').to.be.greaterThan(0);
      process.kill(await relayPid(mesh), 'SIGKILL');
      await sleep(300);
      expect(await preElements(), 'kill -9 leaves the pair behind').to.deep.equal(before);
      await mesh.stopRelayServer(); // reaps the dead process
      await mesh.startRelayServer();
      const after = await preElements();
      expect(after, 'stale pair flushed at start').to.deep.equal([]);
      // The clients re-allocate their previous ports (free again): the backends' endpoints stay valid.
      const t0 = Date.now();
      let again: string[] = [];
      while (Date.now() - t0 < 60_000 && again.length === 0) {
        await sleep(1000);
        again = await preElements();
      }
      expect(again, 'the same pair (same ports) installed again').to.deep.equal(before);
      const b = mesh.node('b');
      expect(await mesh.node('a').host.ping(b.v4, { attempts: 20, timeoutS: 1 }), 'ping a -> b after kill -9 + restart').to.equal(true);
      console.log(`      kill -9 + restart -> pair back ${Date.now() - t0} ms`);
    });
  },
);
