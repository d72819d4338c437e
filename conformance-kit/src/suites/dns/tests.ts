import type { DnsZoneData } from '@rustynet/plugin-api';
import type { KitTest } from '../define.js';
import type { StepContext } from '../step-context.js';
import { checkCapabilities, checkManifest } from '../common/manifest-checks.js';
import { BIG_ADDRESSES, DNS_PORT, DNS_PORT_BUSY, DNS_PORT_C, ZONE, type DigResult, type DnsFixture } from './fixture.js';

type T = KitTest<DnsFixture>;

/** The capability names of a DNS plugin, in contract order. */
export const DNS_CAPABILITY_KEYS = ['aaaa', 'forwarder', 'rateLimit'] as const;

/** One expected answer: `name type` -> rcode and the exact set of record data (for `type`). */
interface Expect {
  name: string;
  type: string;
  status: string;
  /** Exact answer data of type `type` (sorted compare); `[]` means no such records. */
  data: string[];
  /** Require the AA flag (default: for in-zone names, true). */
  aa?: boolean;
  /** Require the zone's SOA in the authority section (negative answers, RFC 2308 section 3). */
  soa?: boolean;
}

function summary(r: DigResult | null): unknown {
  return r === null ? 'no reply (timeout or connection refused)' : { status: r.status, flags: r.flags, answers: r.answers.map((a) => `${a.name} ${a.type} ${a.data}`) };
}

/**
 * Asks every query (concurrently) with dig and fails listing each answer that differs from the
 * expectation (rcode, AA flag, record data).
 */
async function expectAnswers(t: StepContext, fx: DnsFixture, exps: Expect[], how: { tcp?: boolean; ask?: (e: Expect) => Promise<DigResult | null> } = {}): Promise<void> {
  t.begin(`dig ${exps.map((e) => `${e.name} ${e.type}`).join(', ')}${how.tcp ? ' (+tcp)' : ''}`);
  const got = await Promise.all(exps.map((e) => (how.ask ? how.ask(e) : fx.ask(e.name, e.type, { tcp: how.tcp ?? false }))));
  const wrong: { query: string; expected: unknown; actual: unknown }[] = [];
  exps.forEach((e, i) => {
    const r = got[i] ?? null;
    const data = r ? r.answers.filter((a) => a.type === e.type).map((a) => a.data.toLowerCase()).sort() : [];
    const okData = JSON.stringify(data) === JSON.stringify([...e.data].map((d) => d.toLowerCase()).sort());
    const okAa = !(e.aa ?? true) || (r?.flags.includes('aa') ?? false);
    const okSoa = !e.soa || (r?.authority.some((a) => a.type === 'SOA' && a.name.toLowerCase() === `${ZONE}.`) ?? false);
    if (!r || r.status !== e.status || !okData || !okAa || !okSoa) {
      wrong.push({
        query: `${e.name} ${e.type}`,
        expected: { status: e.status, data: e.data, ...((e.aa ?? true) && { flags: 'aa' }), ...(e.soa && { authority: `${ZONE}. SOA` }) },
        actual: r ? { ...(summary(r) as object), authority: r.authority.map((a) => `${a.name} ${a.type}`) } : summary(r),
      });
    }
  });
  t.check(
    wrong.length === 0,
    `${wrong.length} of ${exps.length} answers are wrong: ${wrong.map((w) => w.query).join('; ')}`,
    wrong.map((w) => ({ query: w.query, ...(w.expected as object) })),
    wrong.map((w) => ({ query: w.query, got: w.actual })),
  );
}

const q = (name: string, type: string, status: string, data: string[] = [], aa?: boolean): Expect => ({ name: `${name}`, type, status, data, ...(aa !== undefined && { aa }) });
/** A negative answer (NXDOMAIN or NODATA) from the authoritative server: AA, no records, the zone's SOA in AUTHORITY. */
const neg = (name: string, type: string, status: 'NXDOMAIN' | 'NOERROR'): Expect => ({ name, type, status, data: [], soa: true });

export const manifestTests: T[] = [
  {
    id: 'dns.manifest.schema-valid',
    title: 'rustynet-plugin.json matches the manifest schema, kind dns, every dns capability declared',
    async run(t, fx) {
      await checkManifest(t, fx.server.plugin.loaded.dir, fx.manifest, 'dns', DNS_CAPABILITY_KEYS);
    },
  },
  {
    id: 'dns.manifest.capabilities-match',
    title: 'capabilities() at run time equals the manifest capabilities (fresh and running instance)',
    async run(t, fx) {
      const fresh = await fx.freshInstance('c');
      await checkCapabilities(t, fresh, fx.manifest, 'a fresh instance');
      await fresh.close();
      const s = await fx.serving();
      await checkCapabilities(t, s.plugin, fx.manifest, 'a running instance');
    },
  },
];

export const recordTests: T[] = [
  {
    id: 'dns.records.a',
    title: `<name>.${ZONE} A from b answers exactly the node's IPv4 addresses, authoritative (AA); names match case-insensitively`,
    async run(t, fx) {
      await fx.serving();
      await expectAnswers(t, fx, [
        q(`a.${ZONE}`, 'A', 'NOERROR', ['100.64.0.1']),
        q(`b.${ZONE}`, 'A', 'NOERROR', ['100.64.0.2']),
        q(`c.${ZONE}`, 'A', 'NOERROR', ['100.64.0.3']),
        q(`web.${ZONE}`, 'A', 'NOERROR', ['100.64.0.7']),
        q(`B.${ZONE.toUpperCase()}`, 'A', 'NOERROR', ['100.64.0.2']),
      ]);
    },
  },
  {
    id: 'dns.records.aaaa',
    title: `<name>.${ZONE} AAAA answers exactly the node's IPv6 addresses; a node without IPv6 answers NOERROR with no AAAA and the SOA (NODATA, RFC 2308)`,
    gate: 'aaaa',
    skipIf: (fx) => (fx.caps.aaaa ? undefined : 'the plugin does not claim aaaa'),
    async run(t, fx) {
      await fx.serving();
      await expectAnswers(t, fx, [
        q(`a.${ZONE}`, 'AAAA', 'NOERROR', ['fd00:7e57::1']),
        q(`b.${ZONE}`, 'AAAA', 'NOERROR', ['fd00:7e57::2']),
        neg(`c.${ZONE}`, 'AAAA', 'NOERROR'),
      ]);
    },
  },
  {
    id: 'dns.records.nxdomain',
    title: `an unknown name in the zone (nobody.${ZONE}, A and AAAA) answers NXDOMAIN, AA, no answers, the zone's SOA in AUTHORITY (RFC 2308)`,
    async run(t, fx) {
      await fx.serving();
      await expectAnswers(t, fx, [neg(`nobody.${ZONE}`, 'A', 'NXDOMAIN'), neg(`nobody.${ZONE}`, 'AAAA', 'NXDOMAIN'), neg(`zz-${fx.opts.seed ?? 1}.${ZONE}`, 'A', 'NXDOMAIN')]);
    },
  },
  {
    id: 'dns.records.refused-out-of-zone',
    title: `names outside the zone (example.com, ${ZONE}.example, x${ZONE}) answer REFUSED when no forwarder is configured`,
    gate: '!forwarder-configured',
    skipIf: (fx) => (fx.opts.options && 'forwarder' in fx.opts.options ? 'a forwarder is configured in the plugin options: out-of-zone names are forwarded' : undefined),
    async run(t, fx) {
      await fx.serving();
      await expectAnswers(t, fx, [q('example.com', 'A', 'REFUSED', [], false), q(`${ZONE}.example`, 'A', 'REFUSED', [], false), q(`x${ZONE}`, 'A', 'REFUSED', [], false)]);
    },
  },
];

export const transportTests: T[] = [
  {
    id: 'dns.transport.tcp',
    title: 'the same answers over TCP (dig +tcp): A and NXDOMAIN',
    async run(t, fx) {
      await fx.serving();
      await expectAnswers(t, fx, [q(`b.${ZONE}`, 'A', 'NOERROR', ['100.64.0.2']), q(`nobody.${ZONE}`, 'A', 'NXDOMAIN')], { tcp: true });
    },
  },
  {
    id: 'dns.transport.every-endpoint',
    title: 'every listen endpoint answers over UDP and TCP: the underlay address (from b) and loopback (from a itself)',
    async run(t, fx) {
      const s = await fx.serving();
      for (const tcp of [false, true]) {
        await expectAnswers(t, fx, [q(`web.${ZONE}`, 'A', 'NOERROR', ['100.64.0.7'])], {
          tcp,
          ask: (e) => fx.dig(s.host, '127.0.0.1', DNS_PORT, e.name, e.type, { tcp }),
        });
      }
    },
  },
  {
    id: 'dns.transport.truncation',
    title: 'an answer larger than 512 bytes (60 A records) over UDP without EDNS is truncated with TC set; over TCP it is complete (RFC 1035 4.2.1, RFC 7766)',
    async run(t, fx) {
      await fx.serving();
      t.begin(`dig +noedns +ignore big.${ZONE} A (UDP, 512-byte limit, no TCP retry)`);
      const u = await fx.ask(`big.${ZONE}`, 'A', { extra: ['+noedns', '+ignore'] });
      const udpData = u?.answers.filter((a) => a.type === 'A').map((a) => a.data) ?? [];
      t.check(
        u !== null && u.status === 'NOERROR' && u.flags.includes('tc') && udpData.every((d) => BIG_ADDRESSES.includes(d)),
        'a UDP answer over 512 bytes without EDNS must come truncated (TC set), never oversized or wrong',
        'NOERROR with flag tc (and at most a subset of the records)',
        summary(u),
      );
      await expectAnswers(t, fx, [q(`big.${ZONE}`, 'A', 'NOERROR', BIG_ADDRESSES)], { tcp: true });
    },
  },
];

/** Zone v2: b moves to 100.64.0.22, c leaves, e joins. */
function zoneV2(fx: DnsFixture): DnsZoneData {
  const v1 = fx.zoneV1();
  return {
    zone: ZONE,
    nodes: [
      ...v1.nodes.filter((n) => n.id !== 'c').map((n) => (n.id === 'b' ? { ...n, addresses: ['100.64.0.22'] } : n)),
      { id: 'e', name: 'e', addresses: ['100.64.0.5'] },
    ],
  };
}

/** Inode numbers of the sockets bound to `port` in `fx.server`'s namespace (UDP and TCP). */
async function socketInodes(fx: DnsFixture, port: number): Promise<string[]> {
  const out: string[] = [];
  for (const proto of ['-uln', '-tln']) {
    const r = await fx.server.host.exec('ss', ['-H', proto, '-e', 'sport', '=', `:${port}`], { reject: false });
    for (const m of r.stdout.matchAll(/ino:(\d+)/g)) out.push(`${proto}:${m[1]}`);
  }
  return out.sort();
}

export const updateTests: T[] = [
  {
    id: 'dns.update.no-restart',
    title: 'update() with a changed zone (b moves, c leaves, e joins) is answered at once, on the very same sockets (no restart)',
    async run(t, fx) {
      const s = await fx.serving();
      await expectAnswers(t, fx, [q(`b.${ZONE}`, 'A', 'NOERROR', ['100.64.0.2'])]);
      t.begin('note the sockets bound to the DNS port');
      const before = await socketInodes(fx, DNS_PORT);
      t.check(before.length >= 2, 'no UDP and TCP sockets found on the DNS port', 'UDP and TCP sockets on port ' + DNS_PORT, before);
      t.begin('update(zone v2)');
      await t.ok('update(v2)', fx.update(s.plugin, zoneV2(fx)));
      await expectAnswers(t, fx, [
        q(`b.${ZONE}`, 'A', 'NOERROR', ['100.64.0.22']),
        q(`c.${ZONE}`, 'A', 'NXDOMAIN'),
        q(`e.${ZONE}`, 'A', 'NOERROR', ['100.64.0.5']),
        q(`a.${ZONE}`, 'A', 'NOERROR', ['100.64.0.1']),
      ]);
      t.begin('the same sockets still serve');
      const after = await socketInodes(fx, DNS_PORT);
      t.equal(after, before, 'the sockets on the DNS port changed: update restarted the server');
      t.begin('update(zone v1) again');
      await t.ok('update(v1)', fx.update(s.plugin, fx.zoneV1()));
      await expectAnswers(t, fx, [q(`b.${ZONE}`, 'A', 'NOERROR', ['100.64.0.2']), q(`c.${ZONE}`, 'A', 'NOERROR', ['100.64.0.3']), q(`e.${ZONE}`, 'A', 'NXDOMAIN')]);
    },
  },
  {
    id: 'dns.update.invalid-unchanged',
    title: 'update() with a bad address or a bad zone name -> INVALID_INPUT naming the field; the served answers are unchanged',
    async run(t, fx) {
      const s = await fx.serving();
      const v1 = fx.zoneV1();
      const badAddress: DnsZoneData = {
        zone: ZONE,
        nodes: v1.nodes.map((n) => (n.id === 'b' ? { ...n, addresses: ['100.64.0.99'] } : n.id === 'c' ? { ...n, addresses: ['not-an-ip'] } : n)),
      };
      t.begin('update with nodes[2].addresses[0] = "not-an-ip" (and b changed)');
      await t.rejects('update(bad address)', fx.update(s.plugin, badAddress), 'INVALID_INPUT', /^nodes\[2\]\.addresses\[0\]$/);
      t.begin('update with zone "bad..zone"');
      await t.rejects('update(bad zone)', fx.update(s.plugin, { ...v1, zone: 'bad..zone' }), 'INVALID_INPUT', /^zone$/);
      await expectAnswers(t, fx, [q(`b.${ZONE}`, 'A', 'NOERROR', ['100.64.0.2']), q(`c.${ZONE}`, 'A', 'NOERROR', ['100.64.0.3'])]);
    },
  },
];

/** Pseudo-random bytes from a seed (xorshift), so junk is reproducible. */
function junkBytes(seed: number, size: number): Buffer {
  const b = Buffer.alloc(size);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < size; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    b[i] = x & 0xff;
  }
  return b;
}

function header(id: number, flags: number, qd: number, an = 0, ns = 0, ar = 0): Buffer {
  const h = Buffer.alloc(12);
  h.writeUInt16BE(id, 0);
  h.writeUInt16BE(flags, 2);
  h.writeUInt16BE(qd, 4);
  h.writeUInt16BE(an, 6);
  h.writeUInt16BE(ns, 8);
  h.writeUInt16BE(ar, 10);
  return h;
}

function qname(name: string): Buffer {
  return Buffer.concat([...name.split('.').map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l)])), Buffer.from([0])]);
}

/** Malformed DNS messages: each is a known parser trap. */
export function malformedMessages(seed: number): { what: string; bytes: Buffer }[] {
  const question = Buffer.concat([qname(`b.${ZONE}`), Buffer.from([0, 1, 0, 1])]);
  return [
    { what: 'empty datagram', bytes: Buffer.alloc(0) },
    { what: '3 bytes', bytes: Buffer.from([0x12, 0x34, 0x01]) },
    { what: 'header only, QDCOUNT 1', bytes: header(0xabcd, 0x0100, 1) },
    { what: 'label longer than the message', bytes: Buffer.concat([header(2, 0x0100, 1), Buffer.from([0x3f, 0x61, 0x62, 0x63])]) },
    { what: 'compression pointer to itself', bytes: Buffer.concat([header(3, 0x0100, 1), Buffer.from([0xc0, 0x0c, 0, 1, 0, 1])]) },
    { what: 'question without type and class', bytes: Buffer.concat([header(4, 0x0100, 1), qname(`b.${ZONE}`)]) },
    { what: 'QDCOUNT 65535 with one question', bytes: Buffer.concat([header(5, 0x0100, 0xffff), question]) },
    { what: 'name longer than 255 bytes', bytes: Buffer.concat([header(6, 0x0100, 1), qname(Array.from({ length: 6 }, () => 'x'.repeat(63)).join('.')), Buffer.from([0, 1, 0, 1])]) },
    { what: 'OPT record with a huge RDLENGTH', bytes: Buffer.concat([header(7, 0x0100, 1, 0, 0, 1), question, Buffer.from([0, 0, 41, 4, 0xd0, 0, 0, 0, 0, 0xff, 0xff, 1, 2])]) },
    { what: 'a response (QR set) to our own question', bytes: Buffer.concat([header(8, 0x8180, 1), question]) },
    { what: '512 random bytes', bytes: junkBytes(seed, 512) },
    { what: '40 random bytes after a valid header', bytes: Buffer.concat([header(9, 0x0100, 1), junkBytes(seed + 1, 40)]) },
  ];
}

export const robustnessTests: T[] = [
  {
    id: 'dns.robustness.malformed',
    title: '12 malformed UDP messages and 3 broken TCP streams from b do not stop the server: valid queries over UDP and TCP still answer; the plugin host is alive',
    async run(t, fx) {
      const s = await fx.serving();
      const b = fx.net.host('b');
      const ip = s.host.underlayAddress;
      for (const m of malformedMessages(fx.opts.seed ?? 1)) {
        t.begin(`send UDP junk: ${m.what}`);
        await b.udpSend(ip, DNS_PORT, m.bytes, { timeoutMs: 150, attempts: 1 });
      }
      const streams: [string, Buffer][] = [
        ['length 65535 then 10 bytes, then close', Buffer.concat([Buffer.from([0xff, 0xff]), junkBytes(7, 10)])],
        ['a 5-byte message', Buffer.from([0, 5, 1, 2, 3, 4, 5])],
        ['a zero-length message', Buffer.from([0, 0])],
      ];
      for (const [what, bytes] of streams) {
        t.begin(`send a broken TCP stream: ${what}`);
        await b.tcpSend(ip, DNS_PORT, bytes, { timeoutMs: 300 });
      }
      t.begin('the plugin host still answers calls');
      await t.ok('capabilities() after the junk', s.plugin.call('capabilities', [], fx.ms(5000)));
      await expectAnswers(t, fx, [q(`b.${ZONE}`, 'A', 'NOERROR', ['100.64.0.2']), q(`nobody.${ZONE}`, 'A', 'NXDOMAIN')]);
      await expectAnswers(t, fx, [q(`web.${ZONE}`, 'A', 'NOERROR', ['100.64.0.7'])], { tcp: true });
    },
  },
];

/** Start config of an instance on c. */
function cListen(fx: DnsFixture, port = DNS_PORT_C): { listen: { host: string; port: number }[] } {
  return { listen: [{ host: fx.net.host('c').underlayAddress, port }] };
}

/** dig from b to c's instance. */
function askC(fx: DnsFixture, name: string, opts: { tcp?: boolean; port?: number } = {}): Promise<DigResult | null> {
  return fx.dig(fx.net.host('b'), fx.net.host('c').underlayAddress, opts.port ?? DNS_PORT_C, name, 'A', { tcp: opts.tcp ?? false });
}

async function expectCAnswers(t: StepContext, fx: DnsFixture, why: string): Promise<void> {
  t.begin(`dig b.${ZONE} at c (${why})`);
  const r = await askC(fx, `b.${ZONE}`);
  t.check(r?.status === 'NOERROR' && r.answers.some((a) => a.type === 'A' && a.data === '100.64.0.2'), `the instance on c does not answer (${why})`, 'NOERROR b A 100.64.0.2', summary(r));
}

async function boundOn(fx: DnsFixture, host: 'a' | 'c', port: number): Promise<string[]> {
  const out: string[] = [];
  for (const proto of ['-uan', '-tln']) {
    const r = await fx.net.host(host).exec('ss', ['-H', proto, 'sport', '=', `:${port}`], { reject: false });
    out.push(...r.stdout.split('\n').map((l) => l.trim()).filter(Boolean).map((l) => `${proto === '-uan' ? 'udp' : 'tcp'} ${l.replace(/\s+/g, ' ')}`));
  }
  return out;
}

export const stateTests: T[] = [
  {
    id: 'dns.state.not-running-before-start',
    title: 'update fails with NOT_RUNNING before start; stop before start succeeds',
    async run(t, fx) {
      const fresh = await fx.freshInstance('c');
      t.begin('update before start');
      await t.rejects('update before start', fresh.call('update', [fx.zoneV1()]), 'NOT_RUNNING');
      t.begin('stop before start is a no-op');
      await t.ok('stop() before start', fresh.call('stop'));
      await fresh.close();
    },
  },
  {
    id: 'dns.state.already-running',
    title: 'a second start fails with ALREADY_RUNNING and the instance keeps answering',
    async run(t, fx) {
      const fresh = await fx.freshInstance('c');
      t.begin('start and update');
      await t.ok('start', fx.start(fresh, cListen(fx)));
      await t.ok('update', fx.update(fresh, fx.zoneV1()));
      t.begin('second start');
      await t.rejects('second start', fresh.call('start', [cListen(fx)]), 'ALREADY_RUNNING');
      await expectCAnswers(t, fx, 'after the refused start');
      await t.ok('stop', fx.stop(fresh));
      await fresh.close();
    },
  },
  {
    id: 'dns.state.stop-idempotent',
    title: 'stop twice in a row succeeds both times',
    async run(t, fx) {
      const fresh = await fx.freshInstance('c');
      await t.ok('start', fx.start(fresh, cListen(fx)));
      t.begin('first stop');
      await t.ok('first stop', fx.stop(fresh));
      t.begin('second stop');
      await t.ok('second stop', fx.stop(fresh));
      await fresh.close();
    },
  },
  {
    id: 'dns.state.not-running-after-stop',
    title: 'update fails with NOT_RUNNING after stop',
    async run(t, fx) {
      const fresh = await fx.freshInstance('c');
      await t.ok('start', fx.start(fresh, cListen(fx)));
      await t.ok('stop', fx.stop(fresh));
      t.begin('update after stop');
      await t.rejects('update after stop', fresh.call('update', [fx.zoneV1()]), 'NOT_RUNNING');
      await fresh.close();
    },
  },
  {
    id: 'dns.state.restart',
    title: 'start after stop on the same endpoint works: the restarted instance answers again',
    async run(t, fx) {
      const fresh = await fx.freshInstance('c');
      t.begin('start, update, stop');
      await t.ok('start', fx.start(fresh, cListen(fx)));
      await t.ok('update', fx.update(fresh, fx.zoneV1()));
      await t.ok('stop', fx.stop(fresh));
      t.begin('start again on the same endpoint');
      await t.ok('start after stop', fx.start(fresh, cListen(fx)));
      await t.ok('update', fx.update(fresh, fx.zoneV1()));
      await expectCAnswers(t, fx, 'after the restart');
      await t.ok('stop', fx.stop(fresh));
      await fresh.close();
    },
  },
  {
    id: 'dns.start.bad-listen',
    title: 'start with listen port 70000 or host "not-an-ip" -> INVALID_INPUT naming the field; the instance stays stopped',
    async run(t, fx) {
      const fresh = await fx.freshInstance('c');
      const c = fx.net.host('c').underlayAddress;
      t.begin('start with port 70000');
      await t.rejects('start(port 70000)', fresh.call('start', [{ listen: [{ host: c, port: 70000 }] }]), 'INVALID_INPUT', /^listen\[0\]\.port$/);
      t.begin('start with host "not-an-ip"');
      await t.rejects('start(host not-an-ip)', fresh.call('start', [{ listen: [{ host: 'not-an-ip', port: DNS_PORT_C }] }]), 'INVALID_INPUT', /^listen\[0\]\.host$/);
      t.begin('still stopped');
      await t.rejects('update after the refused starts', fresh.call('update', [fx.zoneV1()]), 'NOT_RUNNING');
      await fresh.close();
    },
  },
  {
    id: 'dns.start.port-in-use',
    title: 'start on a UDP port another socket holds fails with DNS_FAILED; nothing stays bound and the instance stays stopped',
    async run(t, fx) {
      const fresh = await fx.freshInstance('c');
      const c = fx.net.host('c');
      t.begin(`bind UDP ${c.underlayAddress}:${DNS_PORT_BUSY} with another socket`);
      const other = await c.udpEchoServer(DNS_PORT_BUSY, { bind: c.underlayAddress });
      try {
        const before = await boundOn(fx, 'c', DNS_PORT_BUSY);
        t.begin('start on the busy port');
        await t.rejects('start(busy port)', fresh.call('start', [cListen(fx, DNS_PORT_BUSY)]), 'DNS_FAILED');
        t.begin('nothing of the plugin stays bound');
        const after = await boundOn(fx, 'c', DNS_PORT_BUSY);
        t.equal(after, before, 'the refused start left a socket bound on the port');
        await t.rejects('update after the refused start', fresh.call('update', [fx.zoneV1()]), 'NOT_RUNNING');
      } finally {
        await other.close();
        await fresh.close();
      }
    },
  },
];

export const teardownTests: T[] = [
  {
    id: 'dns.teardown.port-closed',
    title: 'after stop no UDP or TCP socket is bound on the port and dig (UDP and TCP) gets no answer',
    async run(t, fx) {
      const fresh = await fx.freshInstance('c');
      t.begin('baseline: sockets on the port before start');
      const before = await boundOn(fx, 'c', DNS_PORT_C);
      t.begin('start, update, query');
      await t.ok('start', fx.start(fresh, cListen(fx)));
      await t.ok('update', fx.update(fresh, fx.zoneV1()));
      await expectCAnswers(t, fx, 'while running');
      t.begin('stop');
      await t.ok('stop', fx.stop(fresh));
      t.begin('no socket on the port');
      const after = await boundOn(fx, 'c', DNS_PORT_C);
      t.equal(after, before, 'sockets are still bound on the DNS port after stop');
      t.begin('dig gets no answer over UDP or TCP');
      const [u, tc] = await Promise.all([askC(fx, `b.${ZONE}`), askC(fx, `b.${ZONE}`, { tcp: true })]);
      t.check(u === null && tc === null, 'the stopped instance still answers', 'no answer over UDP and TCP', { udp: summary(u), tcp: summary(tc) });
      await fresh.close();
    },
  },
];

/** Every dns test, in run order. */
export const allDnsTests: T[] = [...manifestTests, ...recordTests, ...transportTests, ...updateTests, ...robustnessTests, ...stateTests, ...teardownTests];
