/**
 * Integration test (root): the operator diagnostics against real daemons.
 *
 * A 3-node mesh (one namespace each) plus a relay host, with direct-path probing, once per
 * reference backend (WireGuard and OpenVPN; a backend that is not built or cannot use the relay is
 * listed as a pending test with the reason). The `rustynet` CLI runs inside a node's namespace, as
 * an operator on that host would:
 * - `ping` shows the direct path (the path prober's PONG), then, with the direct a<->b path
 *   blocked by nftables, the relay path (ICMP through the relayed tunnel); with all UDP dropped it
 *   exits 1 with PEER_UNREACHABLE;
 * - `netcheck` reports the relay and each peer endpoint, then, with an nftables rule dropping all
 *   UDP in node a's namespace, `udp: false` and nothing reachable;
 * - `ip` and `whois` answer from the applied netmap;
 * - `debug bundle` of a real node carries none of the mesh's private keys in any encoding;
 * - a daemon restarted on a truncated audit log reports the failed check (`audit status`, and in
 *   `status`), moves the log aside and runs on with a new, verifying chain segment.
 */
import { expect } from 'chai';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { gunzipSync } from 'node:zlib';
import { Mesh, RUSTYNET_BIN, type MeshNode } from '@rustynet/testbed';
import { created, describeEachRelayBackend, startMesh } from './mesh-fixture.js';

/** Backends under test; each runs the whole suite. */
const BACKENDS: string[] = ['@rustynet/backend-wireguard', '@rustynet/backend-openvpn'];

interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `rustynet <args> --socket <node's>` inside the node's namespace (`audit verify`: no socket). */
async function cli(n: MeshNode, args: string[], timeoutMs = 60_000): Promise<CliRun> {
  const offline = args[0] === 'audit' && args[1] === 'verify';
  const r = await n.host.exec(process.execPath, [RUSTYNET_BIN, ...args, ...(offline ? [] : ['--socket', n.socket])], {
    reject: false,
    timeoutMs,
  });
  return { code: r.exitCode, stdout: r.stdout, stderr: r.stderr };
}

async function cliJson<T>(n: MeshNode, args: string[]): Promise<T> {
  const r = await cli(n, [...args, '--json']);
  expect(r.code, `rustynet ${args.join(' ')}: ${r.stderr}`).to.equal(0);
  return JSON.parse(r.stdout) as T;
}

interface PingJson {
  sent: number;
  received: number;
  replies: Array<{ reply: boolean; path?: string; via?: string; rttMs?: number; method?: string; currentPath: string }>;
}

interface NetcheckJson {
  udp: boolean | null;
  nearestRelay: { id: string; rttMs: number } | null;
  relays: Array<{ id: string; reachable: boolean; rttMs?: number }>;
  peers: Array<{ peer: string; reachable: boolean | null; rttMs?: number }>;
}

const UDP_TABLE = `rn_diag_udp_${process.pid}`;

await describeEachRelayBackend(
  BACKENDS,
  (backend) => `diagnostics: ping, netcheck, ip, whois, debug bundle, audit (${backend})`,
  function (backend) {
    this.timeout(180_000);
    let mesh: Mesh | undefined;
    const times: Record<string, number> = {};
    const m = (): Mesh => created(mesh);

    before(async function () {
      mesh = await startMesh(backend, { relay: true, logLevel: 'info' });
    });

    after(async () => {
      await mesh?.destroy();
      if (Object.keys(times).length > 0) console.log(`      measured: ${JSON.stringify(times)}`);
    });

    it('ping shows the direct path with the prober round trip', async () => {
      const [a, b] = [m().node('a'), m().node('b')];
      const r = await cliJson<PingJson>(a, ['ping', 'b', '-c', '3', '--interval', '200']);
      expect(r).to.include({ sent: 3, received: 3 });
      for (const x of r.replies) {
        expect(x).to.include({ reply: true, path: 'direct', method: 'probe', currentPath: 'direct' });
        expect(x.via).to.match(new RegExp(`^${b.host.underlayAddress.replace(/\./g, '\\.')}:\\d+$`));
        expect(x.rttMs).to.be.a('number').at.least(0);
      }
      times['directRttMs'] = r.replies[0].rttMs!;
      // By overlay IP too, with the human line.
      const text = await cli(a, ['ping', b.v4, '-c', '1']);
      expect(text.code, text.stderr).to.equal(0);
      expect(text.stdout).to.match(new RegExp(`pong from b \\(${b.v4.replace(/\./g, '\\.')}\\) via \\S+ \\(direct\\) in [\\d.]+ms`));
    });

    it('ip and whois answer from the applied netmap', async () => {
      const [a, b] = [m().node('a'), m().node('b')];
      const ip = await cli(a, ['ip']);
      expect(ip.stdout.trim().split('\n')).to.deep.equal([a.v4, a.v6]);
      expect((await cli(a, ['ip', '-4', 'b'])).stdout.trim()).to.equal(b.v4);
      const who = await cliJson<{ match: string; node: { id: string; identityKey: string } }>(a, ['whois', b.v6]);
      expect(who.match).to.equal('address');
      expect(who.node).to.include({ id: 'b', identityKey: b.identityKey });
      const none = await cli(a, ['whois', '100.127.255.254']);
      expect(none.code).to.equal(2);
      expect(none.stderr).to.contain('INVALID_INPUT');
    });

    it('ping shows the relay path while direct a<->b is blocked; netcheck sees the relay, c, and not b', async () => {
      const mesh = m();
      const a = mesh.node('a');
      await mesh.blockDirect('a', 'b');
      await mesh.waitForPath(
        [
          ['a', 'b'],
          ['b', 'a'],
        ],
        'relay',
        20_000,
      );
      const r = await cliJson<PingJson>(a, ['ping', 'b', '-c', '2', '--timeout', '1000', '--interval', '200']);
      expect(r.received).to.equal(2);
      for (const x of r.replies) expect(x).to.include({ reply: true, path: 'relay', method: 'tunnel', currentPath: 'relay' });
      times['relayRttMs'] = r.replies[0].rttMs!;
      const text = await cli(a, ['ping', 'b', '-c', '1', '--timeout', '1000']);
      expect(text.stdout).to.match(/pong from b \(\S+\) via relay \S+ \(relay\) in [\d.]+ms \(direct: no PONG/);

      const nc = await cliJson<NetcheckJson>(a, ['netcheck', '--timeout', '1000']);
      expect(nc.udp).to.equal(true);
      expect(nc.relays).to.have.length(1);
      expect(nc.relays[0].reachable).to.equal(true);
      expect(nc.nearestRelay?.id).to.equal(nc.relays[0].id);
      expect(nc.peers.find((p) => p.peer === 'b')?.reachable).to.equal(false);
      expect(nc.peers.find((p) => p.peer === 'c')?.reachable).to.equal(true);
      times['relayHelloRttMs'] = nc.relays[0].rttMs!;
      const human = await cli(a, ['netcheck', '--timeout', '1000']);
      expect(human.stdout).to.match(/UDP: true/);
      expect(human.stdout).to.match(/Nearest relay: \S+ \([\d.]+ms\)/);
    });

    it('netcheck with all UDP dropped (nftables in a): udp false, nothing reachable; ping exits 1 PEER_UNREACHABLE', async () => {
      const a = m().node('a');
      await a.host.exec('nft', ['-f', '-'], {
        input: `table inet ${UDP_TABLE} {
  chain out { type filter hook output priority -10; policy accept; oifname "eth0" meta l4proto udp drop; }
  chain in { type filter hook input priority -10; policy accept; iifname "eth0" meta l4proto udp drop; }
}\n`,
      });
      try {
        const nc = await cliJson<NetcheckJson>(a, ['netcheck', '--timeout', '500']);
        expect(nc.udp).to.equal(false);
        expect(nc.nearestRelay).to.equal(null);
        expect(nc.relays.every((r) => !r.reachable)).to.equal(true);
        expect(nc.peers.map((p) => p.reachable)).to.deep.equal([false, false]);
        expect((await cli(a, ['netcheck', '--timeout', '500'])).stdout).to.match(/UDP: false/);
        const p = await cli(a, ['ping', 'c', '-c', '1', '--timeout', '500']);
        expect(p.code, p.stderr).to.equal(1);
        expect(p.stdout, p.stderr).to.match(/no reply from c/);
        expect(p.stderr).to.contain('PEER_UNREACHABLE');
      } finally {
        await a.host.exec('nft', ['delete', 'table', 'inet', UDP_TABLE], { reject: false });
      }
    });

    it("debug bundle of a real node holds none of the mesh's private keys, in any encoding", async () => {
      const mesh = m();
      const a = mesh.node('a');
      const out = join(tmpdir(), `rn-diag-bundle-${process.pid}.json.gz`);
      try {
        const r = await cli(a, ['debug', 'bundle', '--config', a.configFile, '--out', out]);
        expect(r.code, r.stderr).to.equal(0);
        const bundle = gunzipSync(readFileSync(out));
        const doc = JSON.parse(bundle.toString('utf8')) as { status: { node: string }; logs: { lines: string[] }; errors: object };
        expect(doc.status.node).to.equal('a');
        expect(doc.logs.lines.length).to.be.greaterThan(5);
        expect(doc.errors).to.deep.equal({});
        const secrets = await mesh.secrets();
        expect(secrets.length).to.be.greaterThan(3);
        const found: string[] = [];
        for (const s of secrets) {
          const raw = Buffer.from(s.token, 'base64');
          const forms: Array<[string, string | Buffer]> = [['as stored', s.token]];
          if (raw.length >= 16) {
            forms.push(
              ['raw', raw],
              ['base64url', raw.toString('base64url')],
              ['hex', raw.toString('hex')],
              ['HEX', raw.toString('hex').toUpperCase()],
            );
          }
          for (const [name, f] of forms) if (bundle.includes(typeof f === 'string' ? Buffer.from(f) : f)) found.push(`${s.file} ${name}`);
        }
        expect(found).to.deep.equal([]);
      } finally {
        rmSync(out, { force: true });
      }
    });

    it('audit: a running log verifies; a daemon restarted on a truncated log reports it and runs on a new segment', async () => {
      const mesh = m();
      const c = mesh.node('c');
      const ok = await cli(c, ['audit', 'verify', '--config', c.configFile]);
      expect(ok.code, ok.stderr).to.equal(0);
      expect(ok.stdout).to.match(/OK, \d+ records, signed head/);
      const stateDir = (JSON.parse(readFileSync(c.configFile, 'utf8')) as { stateDir: string }).stateDir;
      const log = join(stateDir, 'audit.log');
      await mesh.killDaemon('c');
      const lines = readFileSync(log, 'utf8').trim().split('\n');
      writeFileSync(log, `${lines.slice(0, -2).join('\n')}\n`);
      const bad = await cli(c, ['audit', 'verify', '--config', c.configFile]);
      expect(bad.code).to.equal(1);
      expect(bad.stderr).to.contain('AUDIT_TAMPERED');
      expect(bad.stdout).to.match(/truncated/);
      mesh.restartDaemon('c');
      await mesh.waitFor((id, s) => id !== 'c' || s.state === 'up', 'c up again', 60_000);
      const st = await cliJson<{
        startup: { verification: { ok: boolean; reason: string }; movedTo?: { log: string } };
        now: { ok: boolean; segment?: object };
      }>(c, ['audit', 'status']);
      expect(st.startup.verification.ok).to.equal(false);
      expect(st.startup.verification.reason).to.match(/truncated/);
      expect(existsSync(st.startup.movedTo!.log)).to.equal(true);
      expect(st.now.ok).to.equal(true);
      expect(st.now.segment).to.include({ previousRecords: lines.length - 2 });
      // Status carries the failed start-up check too: in the document and in the text.
      const sj = await cliJson<{ audit?: { ok: boolean; checkedAt: string; brokenAt?: number; reason?: string } }>(c, ['status']);
      expect(sj.audit).to.include({ ok: false });
      expect(sj.audit?.brokenAt)
        .to.be.a('number')
        .greaterThan(lines.length - 2);
      expect(sj.audit?.reason).to.match(/truncated/);
      const text = await cli(c, ['status']);
      expect(text.stdout).to.match(new RegExp(`audit log FAILED its start-up check .* at record ${sj.audit?.brokenAt}: .*truncated`));
      expect(readFileSync(c.logFile, 'utf8')).to.match(/AUDIT LOG TAMPERED/);
      expect((await cli(c, ['audit', 'verify', '--config', c.configFile])).code).to.equal(0);
    });
  },
);
