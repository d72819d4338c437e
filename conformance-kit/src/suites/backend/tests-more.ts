import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Ajv } from 'ajv';
import type { BackendRuntimeStats, PeerStats } from '@rustynet/plugin-api';
import type { KitTest } from '../define.js';
import { snapshotNode } from './snapshot.js';
import type { StepContext } from '../step-context.js';
import { ECHO_UDP_PORT, LISTEN_PORT, type BackendFixture, type SuiteNode } from './fixture.js';

type T = KitTest<BackendFixture>;

function peerStat(st: BackendRuntimeStats, id: string): PeerStats | undefined {
  return st.peers.find((p) => p.id === id);
}

async function expectPing(t: StepContext, fx: BackendFixture, from: SuiteNode, ip: string, why = ''): Promise<void> {
  t.begin(`ping ${from.name} -> ${ip}${why ? ` (${why})` : ''}`);
  t.check(await fx.ping(from, ip), `no ping reply from ${ip} on ${from.name}${why ? ` (${why})` : ''}`, 'reply', 'no reply within 3 attempts of 1 s');
}

/** Lines of `ip route show table all` (v4 and v6) of a node's namespace. */
async function routeTable(n: SuiteNode): Promise<string[]> {
  const [v4, v6] = await Promise.all([
    n.host.exec('ip', ['-4', 'route', 'show', 'table', 'all']),
    n.host.exec('ip', ['-6', 'route', 'show', 'table', 'all']),
  ]);
  return `${v4.stdout}\n${v6.stdout}`.split('\n').filter((l) => l.trim() !== '');
}

function routeLines(table: string[], dest: string): string[] {
  const d = dest === '0.0.0.0/0' ? ['default', '0.0.0.0/0'] : [dest];
  return table.filter((l) => d.some((x) => l.startsWith(`${x} `) || l.startsWith(`unicast ${x} `)) && !l.includes('table local'));
}

export const endpointTests: T[] = [
  {
    id: 'backend.endpoints.roaming',
    title: "updatePeerEndpoint moves a peer to a new endpoint while traffic flows (old path blocked)",
    gate: 'roaming',
    deadlineMs: 30_000,
    skipIf: (fx) => (fx.caps.roaming ? undefined : 'the plugin does not claim the roaming capability'),
    async run(t, fx) {
      await fx.mesh();
      const { a, b } = fx.nodes;
      const alt = '198.18.0.102';
      t.begin('give b a second underlay address');
      await b.host.exec('ip', ['addr', 'replace', `${alt}/24`, 'dev', 'eth0']);
      try {
        await expectPing(t, fx, a, b.ip4, 'before the move');
        t.begin(`updatePeerEndpoint(b, ${alt}:${LISTEN_PORT})`);
        await t.ok('updatePeerEndpoint', a.plugin.call('updatePeerEndpoint', ['b', { host: alt, port: LISTEN_PORT }]));
        t.begin("block a's old path to b");
        await a.host.blockPath(b.host);
        await expectPing(t, fx, a, b.ip4, 'old path blocked, new endpoint in use');
        t.begin('stats() reports the new endpoint');
        const st = await t.ok('stats', fx.stats(a));
        t.equal(peerStat(st, 'b')?.endpoint ?? null, { host: alt, port: LISTEN_PORT }, "b's endpoint in a's stats()");
        t.begin('c is untouched');
        await expectPing(t, fx, a, fx.nodes.c.ip4, 'other peers keep their endpoint');
      } finally {
        await a.host.unblockPath(b.host);
        await b.host.exec('ip', ['addr', 'del', `${alt}/24`, 'dev', 'eth0'], { reject: false });
        fx.dirty = true; // a's endpoint for b changed
      }
    },
  },
  {
    id: 'backend.endpoints.unsupported-without-roaming',
    title: 'without the roaming capability, updatePeerEndpoint fails with UNSUPPORTED and changes nothing',
    gate: '!roaming',
    skipIf: (fx) => (fx.caps.roaming ? 'the plugin claims roaming (backend.endpoints.roaming applies instead)' : undefined),
    async run(t, fx) {
      await fx.mesh();
      const { a, b } = fx.nodes;
      t.begin('updatePeerEndpoint');
      await t.rejects('updatePeerEndpoint', a.plugin.call('updatePeerEndpoint', ['b', { host: '198.18.0.102', port: LISTEN_PORT }]), 'UNSUPPORTED');
      await expectPing(t, fx, a, b.ip4, 'unchanged');
    },
  },
];

export const routeTests: T[] = [
  {
    id: 'backend.routes.apply-replace-clear',
    title: 'applyRoutes adds LAN routes (traffic reaches the peer), replaces them (remove + add) and clears them, as seen in the kernel table',
    gate: 'lanRoutes',
    deadlineMs: 30_000,
    skipIf: (fx) => (fx.caps.lanRoutes ? undefined : 'the plugin does not claim the lanRoutes capability'),
    async run(t, fx) {
      await fx.mesh();
      const { a, b, c } = fx.nodes;
      const r1 = { destination: '10.99.0.0/24', peer: 'b' };
      const r2 = { destination: '10.98.0.0/24', peer: 'b' };
      const r3 = { destination: '10.97.0.0/24', peer: 'c' };
      fx.dirty = true; // allowed IPs change below; restored by the next mesh()
      t.begin('LAN addresses on b (10.99.0.1, 10.98.0.1) and c (10.97.0.1); LAN prefixes in the allowed IPs');
      await b.host.exec('ip', ['addr', 'replace', '10.99.0.1/32', 'dev', 'lo']);
      await b.host.exec('ip', ['addr', 'replace', '10.98.0.1/32', 'dev', 'lo']);
      await c.host.exec('ip', ['addr', 'replace', '10.97.0.1/32', 'dev', 'lo']);
      await t.ok('applyPeers', fx.applyPeers(a, { upsert: [fx.peerOf(b, [r1.destination, r2.destination]), fx.peerOf(c, [r3.destination])] }));
      const st = await t.ok('stats', fx.stats(a));
      const devs = st.interfaces;
      const check = async (present: string[], absent: string[], when: string): Promise<void> => {
        const table = await routeTable(a);
        for (const d of present) {
          const lines = routeLines(table, d);
          t.check(lines.length > 0, `route ${d} missing from the kernel table ${when}`, `a route for ${d}`, table.join(' | '));
          t.check(
            lines.some((l) => devs.some((dev) => l.includes(` dev ${dev}`))),
            `route ${d} does not go through the backend's interfaces ${when}`,
            `dev in ${JSON.stringify(devs)}`,
            lines,
          );
        }
        for (const d of absent) {
          const lines = routeLines(table, d);
          t.check(lines.length === 0, `route ${d} still in the kernel table ${when}`, `no route for ${d}`, lines);
        }
      };
      try {
        t.begin('add 10.99.0.0/24 via b and 10.97.0.0/24 via c');
        await t.ok('applyRoutes add', fx.applyRoutes(a, { add: [r1, r3] }));
        await check([r1.destination, r3.destination], [r2.destination], 'after add');
        await expectPing(t, fx, a, '10.99.0.1', 'LAN route via b');
        await expectPing(t, fx, a, '10.97.0.1', 'LAN route via c');
        t.begin('replace 10.99.0.0/24 by 10.98.0.0/24');
        await t.ok('applyRoutes replace', fx.applyRoutes(a, { remove: [r1], add: [r2] }));
        await check([r2.destination, r3.destination], [r1.destination], 'after replace');
        await expectPing(t, fx, a, '10.98.0.1', 'replaced LAN route via b');
        t.begin('clear');
        await t.ok('applyRoutes clear', fx.applyRoutes(a, { remove: [r2, r3] }));
        await check([], [r1.destination, r2.destination, r3.destination], 'after clear');
        await expectPing(t, fx, a, b.ip4, 'peer address routes untouched');
      } finally {
        await b.host.exec('ip', ['addr', 'del', '10.99.0.1/32', 'dev', 'lo'], { reject: false });
        await b.host.exec('ip', ['addr', 'del', '10.98.0.1/32', 'dev', 'lo'], { reject: false });
        await c.host.exec('ip', ['addr', 'del', '10.97.0.1/32', 'dev', 'lo'], { reject: false });
      }
      t.begin('restore allowed IPs');
      await t.ok('applyPeers', fx.applyPeers(a, { upsert: fx.baselinePeers('a') }));
      fx.dirty = false;
    },
  },
  {
    id: 'backend.routes.exit-node',
    title: 'a default route (0.0.0.0/0) via peer b carries traffic for any address to b; removing it restores the table',
    gate: 'exitNode',
    deadlineMs: 30_000,
    skipIf: (fx) => (fx.caps.exitNode ? undefined : 'the plugin does not claim the exitNode capability'),
    async run(t, fx) {
      await fx.mesh();
      const { a, b, c } = fx.nodes;
      const r = { destination: '0.0.0.0/0', peer: 'b' };
      const far = '10.55.0.1'; // on b's loopback, reachable only through the exit route
      fx.dirty = true;
      t.begin('b gets 10.55.0.1; a: b allowed 0.0.0.0/0');
      await b.host.exec('ip', ['addr', 'replace', `${far}/32`, 'dev', 'lo']);
      const tableBefore = await routeTable(a);
      try {
        await t.ok('applyPeers', fx.applyPeers(a, { upsert: [fx.peerOf(b, ['0.0.0.0/0'])] }));
        t.begin('add 0.0.0.0/0 via b');
        await t.ok('applyRoutes add default', fx.applyRoutes(a, { add: [r] }));
        const table = await routeTable(a);
        t.check(routeLines(table, r.destination).length > 0, 'no default route in any table', 'a default route', table);
        await expectPing(t, fx, a, far, 'any address goes to the exit node b');
        await expectPing(t, fx, a, c.ip4, 'more specific peer routes still win');
        t.check(await a.host.ping(b.host.underlayAddress, { attempts: 3 }), 'the underlay broke with the exit route', 'underlay reachable', 'no reply');
        t.begin('remove 0.0.0.0/0');
        await t.ok('applyRoutes remove default', fx.applyRoutes(a, { remove: [r] }));
        await t.ok('applyPeers', fx.applyPeers(a, { upsert: fx.baselinePeers('a') }));
        const tableAfter = await routeTable(a);
        t.equal(tableAfter.sort(), tableBefore.sort(), 'the routing tables differ from before the exit route');
        t.check(!(await fx.ping(a, far, 1)), `${far} still reachable after removing the exit route`, 'no reply', 'reply');
      } finally {
        await b.host.exec('ip', ['addr', 'del', `${far}/32`, 'dev', 'lo'], { reject: false });
      }
      fx.dirty = false;
    },
  },
];

export const statsTests: T[] = [
  {
    id: 'backend.stats.counters-move',
    title: "stats() lists existing interfaces and per-peer byte counters that grow when traffic flows",
    async run(t, fx) {
      await fx.mesh();
      const { a, b } = fx.nodes;
      t.begin('stats before');
      const s1 = await t.ok('stats', fx.stats(a));
      t.check(Array.isArray(s1.interfaces) && s1.interfaces.length > 0, 'stats().interfaces is empty', 'the tunnel interface(s)', s1.interfaces);
      const links = (await a.host.exec('ip', ['-o', 'link', 'show'])).stdout;
      for (const i of s1.interfaces) t.check(links.includes(`: ${i}:`) || links.includes(`: ${i}@`), `interface ${i} reported by stats() does not exist`, i, links);
      const p1 = t.need(peerStat(s1, 'b'), 'peer b missing from stats()', 'b', s1.peers.map((p) => p.id));
      t.begin('send 20 x 1000 bytes a -> b');
      const n = await a.host.udpEchoMany(b.ip4, ECHO_UDP_PORT, Array.from({ length: 20 }, (_, i) => Buffer.alloc(1000, i)));
      t.check(n > 0, 'no echo through the tunnel', '> 0', n);
      t.begin('stats after');
      const s2 = await t.ok('stats', fx.stats(a));
      const p2 = t.need(peerStat(s2, 'b'), 'peer b missing from stats()', 'b', s2.peers.map((p) => p.id));
      t.check(p2.txBytes >= p1.txBytes + 20_000, 'txBytes did not grow by the bytes sent', `>= ${p1.txBytes + 20_000}`, p2.txBytes);
      t.check(p2.rxBytes >= p1.rxBytes + n * 1000, 'rxBytes did not grow by the bytes echoed', `>= ${p1.rxBytes + n * 1000}`, p2.rxBytes);
      t.check(Number.isFinite(p2.rxBytes) && Number.isFinite(p2.txBytes), 'counters are not numbers', 'numbers', p2);
    },
  },
  {
    id: 'backend.stats.handshake',
    title: 'stats() reports a recent lastHandshakeAt after traffic',
    gate: 'handshakeStats',
    skipIf: (fx) => (fx.caps.handshakeStats ? undefined : 'the plugin does not claim the handshakeStats capability'),
    async run(t, fx) {
      await fx.mesh();
      const { a, c } = fx.nodes;
      const t0 = Date.now();
      await expectPing(t, fx, a, c.ip4);
      t.begin('stats');
      const st = await t.ok('stats', fx.stats(a));
      const p = t.need(peerStat(st, 'c'), 'peer c missing from stats()', 'c', st.peers.map((x) => x.id));
      const hs = t.need(p.lastHandshakeAt, 'no handshake time after traffic', 'ms since the epoch', p.lastHandshakeAt);
      // clocks: allow 10 minutes back (handshakes are not redone on every packet) and 5 s ahead
      t.check(hs > t0 - 600_000 && hs < Date.now() + 5000, 'lastHandshakeAt is not a recent epoch time in ms', `within [${t0 - 600_000}, now]`, hs);
    },
  },
];

export const encryptionTests: T[] = [
  {
    id: 'backend.encryption.marker-not-in-underlay',
    title: 'a marker payload sent through the tunnel arrives but never appears in an underlay capture',
    async run(t, fx) {
      await fx.mesh();
      const { a, b } = fx.nodes;
      const marker = `RUSTYNET-MARKER-${fx.net.runId}-${Date.now()}`;
      t.begin('capture on the underlay of a and b');
      const [ca, cb] = await Promise.all([a.host.capture(), b.host.capture()]);
      let bytesA: Buffer;
      let bytesB: Buffer;
      try {
        t.begin('send the marker through the tunnel (UDP and TCP)');
        const r = await a.host.udpSend(b.ip4, ECHO_UDP_PORT, marker);
        t.check(r?.toString() === marker, 'the marker did not arrive through the tunnel', marker, r?.toString() ?? null);
        const r2 = await a.host.tcpSend(b.ip4, 7001, marker.repeat(20));
        t.check(r2?.toString() === marker.repeat(20), 'the TCP marker did not arrive', 'echo', r2?.length ?? null);
      } finally {
        [bytesA, bytesB] = await Promise.all([ca.stop(), cb.stop()]);
      }
      t.begin('inspect the captures');
      t.check(bytesA.length > 200 && bytesB.length > 200, 'the captures saw no tunnel traffic: cannot judge encryption', '> 200 bytes captured', [bytesA.length, bytesB.length]);
      const needle = Buffer.from(marker.slice(0, 24));
      t.check(!bytesA.includes(needle), 'the marker appears in clear text on the underlay of a', 'marker absent (encrypted)', 'marker found in capture');
      t.check(!bytesB.includes(needle), 'the marker appears in clear text on the underlay of b', 'marker absent (encrypted)', 'marker found in capture');
    },
  },
];

/** Replaces every secret token in `text` by `<private key>`. */
function redact(text: string, tokens: string[]): string {
  return tokens.reduce((acc, k) => acc.split(k).join('<private key>'), text);
}

/** Every pid in the system with its cmdline and environ (best effort). */
async function procScan(): Promise<{ pid: string; cmdline: string; environ: string }[]> {
  const out: { pid: string; cmdline: string; environ: string }[] = [];
  for (const pid of await readdir('/proc')) {
    if (!/^\d+$/.test(pid) || Number(pid) === process.pid) continue;
    const [cmdline, environ] = await Promise.all([
      readFile(`/proc/${pid}/cmdline`).then((b) => b.toString().replace(/\0/g, ' '), () => ''),
      readFile(`/proc/${pid}/environ`).then((b) => b.toString().replace(/\0/g, ' '), () => ''),
    ]);
    out.push({ pid, cmdline, environ });
  }
  return out;
}

export const secretsTests: T[] = [
  {
    id: 'backend.secrets.no-key-in-cmdline',
    title: 'no private key in any command line or child environment (recorded runner calls and /proc/*/cmdline, /proc/*/environ)',
    async run(t, fx) {
      await fx.mesh();
      const nodes = [fx.nodes.a, fx.nodes.b, fx.nodes.c];
      const tokens = (await Promise.all(nodes.map((n) => fx.secretTokens(n)))).flat();
      t.check(tokens.length > 0, 'could not find private key material in the files generateKeyPair listed', 'private key files', nodes.map((n) => n.keyFiles));
      t.begin('commands the plugin ran through the CommandRunner');
      for (const n of nodes) {
        for (const c of await n.plugin.commands()) {
          const hay = [c.file, ...c.args, ...Object.values(c.env)].join('\n');
          const hit = tokens.some((k) => hay.includes(k));
          if (hit) {
            const shown = redact([c.file, ...c.args].join(' '), tokens).slice(0, 200);
            t.fail(`private key material on the command line or in the environment of a command the plugin ran on ${n.name}: ${shown}`, 'keys passed by file path or stdin', `${c.via}: ${shown}`);
          }
        }
      }
      t.begin('every process on the system (/proc/*/cmdline and environ)');
      for (const p of await procScan()) {
        const hitC = tokens.some((k) => p.cmdline.includes(k));
        const hitE = tokens.some((k) => p.environ.includes(k));
        t.check(!hitC, `private key material in /proc/${p.pid}/cmdline`, 'no key in any command line', redact(p.cmdline, tokens).slice(0, 200));
        t.check(!hitE, `private key material in /proc/${p.pid}/environ (${p.cmdline.split(' ')[0]})`, 'no key in any environment', 'found (redacted)');
      }
    },
  },
  {
    id: 'backend.secrets.key-files-private',
    title: 'key directory 0700; every file holding private key material (keys and state dir) is 0600',
    async run(t, fx) {
      await fx.mesh();
      for (const n of [fx.nodes.a, fx.nodes.b]) {
        t.begin(`key directory of ${n.name}`);
        const dm = (await stat(n.keyDir)).mode & 0o777;
        t.check((dm & 0o077) === 0, `key directory ${n.keyDir} is accessible by group or others`, '0700', dm.toString(8));
        const tokens = await fx.secretTokens(n);
        const dirs = [n.keyDir, n.plugin.loaded.pluginStateDir];
        for (const dir of dirs) {
          t.begin(`files under ${dir}`);
          for (const f of await walk(dir)) {
            const m = (await stat(f)).mode & 0o777;
            const text = await readFile(f, 'utf8').catch(() => '');
            if (tokens.some((k) => text.includes(k)) || n.keyFiles.includes(f)) {
              if (text.trim() === n.publicKey.trim()) continue;
              t.check((m & 0o077) === 0, `${f} holds private key material and is readable by group or others`, '0600', m.toString(8));
            }
          }
        }
      }
    },
  },
  {
    id: 'backend.secrets.not-in-logs',
    title: "private keys never appear in the plugin's logs or output",
    async run(t, fx) {
      await fx.mesh();
      for (const n of [fx.nodes.a, fx.nodes.b, fx.nodes.c, fx.nodes.d]) {
        t.begin(`logs of ${n.name}`);
        const tokens = await fx.secretTokens(n);
        const log = (await readFile(n.logFile, 'utf8').catch(() => '')) + n.plugin.outputTail();
        t.check(!tokens.some((k) => log.includes(k)), `private key of ${n.name} found in the plugin's log`, 'no key in logs', 'found (redacted)');
      }
    },
  },
];

async function walk(dir: string): Promise<string[]> {
  const out: string[] = [];
  const ents = await readdir(dir, { withFileTypes: true }).catch(() => []);
  for (const e of ents) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await walk(p)));
    else if (e.isFile()) out.push(p);
  }
  return out;
}

/** A key the manifest's peerKeySchema rejects. */
function invalidKey(fx: BackendFixture): string | undefined {
  const v = new Ajv({ strict: false }).compile(fx.manifest.backend?.peerKeySchema ?? {});
  return ['not a key!', '', '====', 'A'.repeat(3), `${fx.nodes.b.publicKey}x`, 'x'.repeat(4096)].find((k) => !v(k));
}

/** Asserts a's state is the baseline: peers b and c, both reachable. */
async function expectUnchanged(t: StepContext, fx: BackendFixture): Promise<void> {
  const { a, b, c } = fx.nodes;
  t.begin('state unchanged: stats() lists b and c');
  const st = await t.ok('stats', fx.stats(a));
  t.equal(st.peers.map((p) => p.id).sort(), ['b', 'c'], 'peers of a after the refused call');
  t.begin('state unchanged: traffic still flows');
  const [pb, pc] = await Promise.all([fx.ping(a, b.ip4), fx.ping(a, c.ip4)]);
  t.check(pb && pc, 'traffic stopped after a refused call', 'b and c reachable', { b: pb, c: pc });
}

export const badInputTests: T[] = [
  {
    id: 'backend.bad-input.invalid-key',
    title: 'a peer key that fails peerKeySchema -> INVALID_INPUT naming upsert[i].publicKey; nothing changes',
    async run(t, fx) {
      await fx.mesh();
      const { a, d } = fx.nodes;
      const key = t.need(invalidKey(fx), 'peerKeySchema accepts every probe string: cannot test key validation', 'a peerKeySchema that rejects malformed keys', fx.manifest.backend?.peerKeySchema);
      t.begin('applyPeers([valid new peer d, b with a malformed key])');
      await t.rejects(
        'applyPeers',
        fx.applyPeers(a, { upsert: [fx.peerOf(d), { ...fx.peerOf(fx.nodes.b), publicKey: key }] }),
        'INVALID_INPUT',
        /^upsert\[1\]\.publicKey$/,
      );
      await expectUnchanged(t, fx);
    },
  },
  {
    id: 'backend.bad-input.bad-cidr',
    title: 'malformed allowed IPs (host bits set, /33, garbage) -> INVALID_INPUT naming the field; nothing changes',
    async run(t, fx) {
      await fx.mesh();
      const { a, b, d } = fx.nodes;
      for (const bad of ['100.64.0.300/32', '100.64.0.2/33', '100.64.0.0/8', 'not-a-cidr']) {
        t.begin(`applyPeers with allowed IP ${bad}`);
        await t.rejects(
          `applyPeers(allowedIps ${bad})`,
          fx.applyPeers(a, { upsert: [fx.peerOf(d), { ...fx.peerOf(b), allowedIps: [`${b.ip4}/32`, bad] }] }),
          'INVALID_INPUT',
          /^upsert\[1\]\.allowedIps\[1\]$/,
        );
      }
      await expectUnchanged(t, fx);
    },
  },
  {
    id: 'backend.bad-input.unknown-peer',
    title: 'removing, re-pointing or routing via an unknown peer -> UNKNOWN_PEER; nothing changes',
    async run(t, fx) {
      await fx.mesh();
      const { a, d } = fx.nodes;
      t.begin('applyPeers remove [nobody]');
      await t.rejects('applyPeers(remove unknown)', fx.applyPeers(a, { upsert: [fx.peerOf(d)], remove: ['nobody'] }), 'UNKNOWN_PEER');
      t.begin('updatePeerEndpoint(nobody)');
      await t.rejects(
        'updatePeerEndpoint(unknown)',
        a.plugin.call('updatePeerEndpoint', ['nobody', { host: '198.18.0.50', port: 51820 }]),
        fx.caps.roaming ? 'UNKNOWN_PEER' : ['UNKNOWN_PEER', 'UNSUPPORTED'],
      );
      t.begin('applyRoutes via nobody');
      await t.rejects(
        'applyRoutes(via unknown)',
        fx.applyRoutes(a, { add: [{ destination: '100.64.9.0/24', peer: 'nobody' }] }),
        fx.caps.lanRoutes ? 'UNKNOWN_PEER' : ['UNKNOWN_PEER', 'UNSUPPORTED'],
      );
      await expectUnchanged(t, fx);
    },
  },
  {
    id: 'backend.bad-input.duplicate-peer',
    title: 'the same peer id twice in one batch -> DUPLICATE_PEER; nothing changes',
    async run(t, fx) {
      await fx.mesh();
      const { a, b, d } = fx.nodes;
      t.begin('applyPeers upsert [d, b, b]');
      await t.rejects('applyPeers(duplicate)', fx.applyPeers(a, { upsert: [fx.peerOf(d), fx.peerOf(b), { ...fx.peerOf(b), allowedIps: ['100.64.77.0/24'] }] }), 'DUPLICATE_PEER');
      t.begin('applyPeers with b in upsert and remove');
      await t.rejects('applyPeers(upsert and remove b)', fx.applyPeers(a, { upsert: [fx.peerOf(b)], remove: ['b'] }), ['DUPLICATE_PEER', 'INVALID_INPUT']);
      await expectUnchanged(t, fx);
    },
  },
  {
    id: 'backend.bad-input.bad-endpoint',
    title: 'an endpoint with a port outside 1..65535 or a host name -> INVALID_INPUT naming the field; nothing changes',
    async run(t, fx) {
      await fx.mesh();
      const { a, b, d } = fx.nodes;
      const cases: [string, unknown][] = [
        ['port 0', { host: '198.18.0.2', port: 0 }],
        ['port 70000', { host: '198.18.0.2', port: 70000 }],
        ['host name', { host: 'example.invalid', port: 51820 }],
      ];
      for (const [what, endpoint] of cases) {
        t.begin(`applyPeers with endpoint ${what}`);
        await t.rejects(`applyPeers(endpoint ${what})`, fx.applyPeers(a, { upsert: [fx.peerOf(d), { ...fx.peerOf(b), endpoint } as never] }), 'INVALID_INPUT', /^upsert\[1\]\.endpoint/);
      }
      await expectUnchanged(t, fx);
    },
  },
  {
    id: 'backend.bad-input.ipv6-unsupported',
    title: 'without the ipv6 capability, an IPv6 allowed IP -> UNSUPPORTED (or INVALID_INPUT); nothing changes',
    gate: '!ipv6',
    skipIf: (fx) => (fx.caps.ipv6 ? 'the plugin claims ipv6 (IPv6 is exercised in backend.peers.ping-two-peers)' : undefined),
    async run(t, fx) {
      await fx.mesh();
      const { a, b, d } = fx.nodes;
      t.begin('applyPeers with allowed IP fd00:7e57::2/128');
      await t.rejects('applyPeers(IPv6 allowed IP)', fx.applyPeers(a, { upsert: [fx.peerOf(d), { ...fx.peerOf(b), allowedIps: [`${b.ip4}/32`, 'fd00:7e57::2/128'] }] }), ['UNSUPPORTED', 'INVALID_INPUT']);
      await expectUnchanged(t, fx);
    },
  },
];

export const teardownTests: T[] = [
  {
    id: 'backend.teardown.clean',
    title: 'after use and stop, no interface, address, route, rule, process, socket or file of the backend is left',
    deadlineMs: 30_000,
    async run(t, fx) {
      await fx.ready();
      const { a, d } = fx.nodes;
      await fx.stop(d).catch(() => undefined);
      t.begin('baseline: snapshot of d taken before the plugin ever started');
      const before = fx.baseline;
      t.begin('start d, add peer a, routes, traffic');
      await t.ok('start', fx.start(d));
      await t.ok('applyPeers + applyRoutes', fx.connect(d, [fx.peerOf(a, fx.caps.lanRoutes ? ['10.96.0.0/24'] : [])]));
      await fx.ping(d, a.ip4, 1); // a does not know d: only a handshake attempt leaves d
      await t.ok('stats', fx.stats(d));
      t.begin('stop d');
      await t.ok('stop', fx.stop(d));
      t.begin('compare with the snapshot');
      let leftovers: Record<string, string[]> = {};
      for (let i = 0; i < 10; i++) {
        const after = await snapshotNode(d);
        leftovers = Object.fromEntries(
          Object.entries(after)
            .map(([k, v]) => [k, v.filter((x) => !(before[k] ?? []).includes(x))] as const)
            .filter(([, v]) => v.length > 0),
        );
        if (Object.keys(leftovers).length === 0) break;
        await new Promise((r) => setTimeout(r, 200)); // processes may take a moment to exit
      }
      t.check(Object.keys(leftovers).length === 0, 'the backend left resources behind after stop', 'nothing new since before the plugin first started on d', leftovers);
    },
  },
];
