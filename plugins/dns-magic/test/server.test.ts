import * as dgram from 'node:dgram';
import * as net from 'node:net';
import { expect } from 'chai';
import * as dnsPacket from 'dns-packet';
import { isRustynetError } from '@rustynet/plugin-api';
import { createPlugin } from '../src/index.js';
import { standaloneContext } from '../src/standalone.js';
import { ZONE, data, encodeQuery, query, startServer, tcpExchange, udpExchange, until, type TestServer } from './helpers.js';

async function expectCode(p: Promise<unknown>, code: string, field?: string): Promise<void> {
  try {
    await p;
  } catch (err) {
    expect(isRustynetError(err), String(err)).to.equal(true);
    expect((err as { code: string }).code).to.equal(code);
    if (field !== undefined) expect((err as { field?: string }).field).to.equal(field);
    return;
  }
  expect.fail(`expected ${code}`);
}

describe('dns-magic server (loopback, random port)', () => {
  let s: TestServer;
  before(async () => {
    s = await startServer({ ttl: 42 });
  });
  after(async () => {
    await s.plugin.stop();
  });

  it('answers A and AAAA for <name>.<zone> authoritatively with the configured TTL', async () => {
    const a = await query(s.port, 'alpha.rustynet', 'A');
    expect(a.rcode).to.equal('NOERROR');
    expect(a.flag_aa).to.equal(true);
    expect(a.flag_qr).to.equal(true);
    expect(data(a, 'A')).to.deep.equal(['100.64.0.1']);
    expect((a.answers![0] as dnsPacket.StringAnswer).ttl).to.equal(42);
    const aaaa = await query(s.port, 'alpha.rustynet', 'AAAA');
    expect(data(aaaa, 'AAAA')).to.deep.equal(['fd00::1']);
    expect(data(await query(s.port, 'b.rustynet', 'A'), 'A')).to.deep.equal(['100.64.0.2']);
  });

  it('answers for <id>.<zone> too', async () => {
    expect(data(await query(s.port, 'a.rustynet', 'A'), 'A')).to.deep.equal(['100.64.0.1']);
    expect(data(await query(s.port, 'c.rustynet', 'AAAA'), 'AAAA')).to.deep.equal(['fd00::3']);
  });

  it('matches names case-insensitively and echoes the question exactly', async () => {
    const r = await query(s.port, 'AlPhA.RuStYnEt', 'A');
    expect(r.rcode).to.equal('NOERROR');
    expect(r.questions![0].name).to.equal('AlPhA.RuStYnEt');
    expect(r.answers![0].name).to.equal('AlPhA.RuStYnEt');
    expect(data(r, 'A')).to.deep.equal(['100.64.0.1']);
  });

  it('ANY returns both address families', async () => {
    const r = await query(s.port, 'alpha.rustynet', 'ANY' as dnsPacket.RecordType);
    expect(data(r, 'A')).to.deep.equal(['100.64.0.1']);
    expect(data(r, 'AAAA')).to.deep.equal(['fd00::1']);
  });

  it('unknown names in the zone: NXDOMAIN with the SOA in the authority section (RFC 2308)', async () => {
    for (const name of ['nobody.rustynet', 'x.alpha.rustynet']) {
      const r = await query(s.port, name, 'A');
      expect(r.rcode, name).to.equal('NXDOMAIN');
      expect(r.flag_aa).to.equal(true);
      expect(r.answers).to.have.length(0);
      expect(r.authorities).to.have.length(1);
      const soa = r.authorities![0] as dnsPacket.SoaAnswer;
      expect(soa.type).to.equal('SOA');
      expect(soa.name).to.equal('rustynet');
      expect(soa.data.minimum).to.equal(42);
    }
  });

  it('existing name without the asked type: NOERROR/NODATA with the SOA', async () => {
    for (const [name, type] of [
      ['b.rustynet', 'AAAA'],
      ['gamma.rustynet', 'A'],
      ['alpha.rustynet', 'MX'],
      ['rustynet', 'A'],
    ] as const) {
      const r = await query(s.port, name, type);
      expect(r.rcode, `${name} ${type}`).to.equal('NOERROR');
      expect(r.answers, `${name} ${type}`).to.have.length(0);
      expect(r.authorities![0].type).to.equal('SOA');
    }
  });

  it('serves SOA and NS at the apex', async () => {
    const soa = await query(s.port, 'rustynet', 'SOA');
    expect(soa.rcode).to.equal('NOERROR');
    expect(soa.answers![0].type).to.equal('SOA');
    const ns = await query(s.port, 'rustynet', 'NS');
    expect(data(ns, 'NS')).to.deep.equal(['rustynet']);
  });

  it('names outside the zone: REFUSED without a forwarder; other classes REFUSED', async () => {
    const r = await query(s.port, 'example.com', 'A');
    expect(r.rcode).to.equal('REFUSED');
    expect(r.flag_aa).to.equal(false);
    expect(r.answers).to.have.length(0);
    expect((await query(s.port, 'alpha.rustynet', 'A', { klass: 'CH' })).rcode).to.equal('REFUSED');
    expect((await query(s.port, 'rustynet', 'AXFR', { tcp: true })).rcode).to.equal('REFUSED');
  });

  it('answers over TCP with a 2-byte length prefix, several queries per connection (RFC 7766)', async () => {
    const replies = await tcpExchange(s.port, [encodeQuery('alpha.rustynet', 'A', { id: 1 }), encodeQuery('b.rustynet', 'A', { id: 2 })]);
    const decoded = replies.map((r) => dnsPacket.decode(r));
    expect(decoded.map((d) => d.id).sort()).to.deep.equal([1, 2]);
    const byId = new Map(decoded.map((d) => [d.id, d]));
    expect(data(byId.get(1)!, 'A')).to.deep.equal(['100.64.0.1']);
    expect(data(byId.get(2)!, 'A')).to.deep.equal(['100.64.0.2']);
  });

  it('EDNS0: echoes an OPT record; EDNS version 1 gets BADVERS', async () => {
    const r = await query(s.port, 'alpha.rustynet', 'A', { edns: 4096 });
    const opt = (r.additionals ?? []).find<dnsPacket.OptAnswer>((a) => a.type === 'OPT');
    expect(opt?.udpPayloadSize).to.equal(1232);
    const q = dnsPacket.encode({
      type: 'query',
      id: 9,
      questions: [{ name: 'alpha.rustynet', type: 'A' }],
      additionals: [
        { type: 'OPT', name: '.', udpPayloadSize: 1232, extendedRcode: 0, ednsVersion: 1, flags: 0, flag_do: false, options: [] },
      ],
    });
    const bad = dnsPacket.decode(await udpExchange(s.port, q));
    const bopt = bad.additionals!.find((a) => a.type === 'OPT') as dnsPacket.OptAnswer;
    expect(bopt.extendedRcode).to.equal(1); // BADVERS = 16 = (1 << 4) | 0
    expect(bad.flags! & 0xf).to.equal(0);
  });

  it('FORMERR for a readable header with a broken body; NOTIMP for other opcodes; no answer to responses', async () => {
    const q = encodeQuery('alpha.rustynet', 'A', { id: 77 });
    const r = dnsPacket.decode(await udpExchange(s.port, q.subarray(0, q.length - 3)));
    expect(r.id).to.equal(77);
    expect((r as { rcode?: string }).rcode).to.equal('FORMERR');
    const two = Buffer.from(q);
    two.writeUInt16BE(2, 4); // QDCOUNT 2 with one question
    expect((dnsPacket.decode(await udpExchange(s.port, two)) as { rcode?: string }).rcode).to.equal('FORMERR');
    const notify = Buffer.from(q);
    notify[2] = (notify[2] & 0x87) | (4 << 3); // OPCODE 4 (NOTIFY)
    expect((dnsPacket.decode(await udpExchange(s.port, notify)) as { rcode?: string }).rcode).to.equal('NOTIMP');
    const before = s.plugin.stats().dropped.response;
    const resp = Buffer.from(q);
    resp[2] = resp[2] | 0x80;
    const sock = dgram.createSocket('udp4');
    await new Promise<void>((res) => sock.send(resp, s.port, '127.0.0.1', () => res()));
    await until(() => s.plugin.stats().dropped.response === before + 1);
    sock.close();
  });

  it('counts answers by RCODE in context.metrics', () => {
    const m = s.ctx.metrics.snapshot();
    expect(m['dns_queries_total{rcode=NOERROR,transport=udp}']).to.be.greaterThan(0);
    expect(m['dns_queries_total{rcode=NXDOMAIN,transport=udp}']).to.be.greaterThan(0);
    expect(m['dns_queries_total{rcode=REFUSED,transport=udp}']).to.be.greaterThan(0);
    expect(m['dns_queries_total{rcode=NOERROR,transport=tcp}']).to.be.greaterThan(0);
    expect(m['dns_zone_nodes']).to.equal(3);
  });
});

describe('dns-magic truncation', () => {
  it('sets TC on oversize UDP answers; TCP returns everything', async () => {
    const many = Array.from({ length: 20 }, (_, i) => `fd00::${(i + 1).toString(16)}`);
    const s = await startServer({}, { zone: 'rustynet', nodes: [{ id: 'big', name: 'big', addresses: many }] });
    try {
      const udp = await query(s.port, 'big.rustynet', 'AAAA');
      expect(udp.flag_tc).to.equal(true);
      expect(udp.answers).to.have.length(0);
      expect(udp.questions![0].name).to.equal('big.rustynet');
      const edns = await query(s.port, 'big.rustynet', 'AAAA', { edns: 4096 });
      expect(edns.flag_tc).to.equal(false); // 20 AAAA (~800 bytes) fit in 1232 bytes
      expect(edns.answers).to.have.length(20);
      const many2 = Array.from({ length: 60 }, (_, i) => `fd00::${(i + 1).toString(16)}`);
      await s.plugin.update({ zone: 'rustynet', nodes: [{ id: 'big', name: 'big', addresses: many2 }] });
      expect((await query(s.port, 'big.rustynet', 'AAAA', { edns: 4096 })).flag_tc).to.equal(true); // ~2400 bytes > 1232
      expect(data(await query(s.port, 'big.rustynet', 'AAAA', { tcp: true }), 'AAAA')).to.deep.equal(many2);
      await s.plugin.update({ zone: 'rustynet', nodes: [{ id: 'big', name: 'big', addresses: many }] });
      const tcp = await query(s.port, 'big.rustynet', 'AAAA', { tcp: true });
      expect(tcp.flag_tc).to.equal(false);
      expect(data(tcp, 'AAAA')).to.deep.equal(many);
    } finally {
      await s.plugin.stop();
    }
  });
});

describe('dns-magic update', () => {
  it('swaps the records without restart; the SOA serial increases', async () => {
    const s = await startServer();
    try {
      const serial1 = s.plugin.zoneInfo().serial;
      expect(data(await query(s.port, 'b.rustynet', 'A'), 'A')).to.deep.equal(['100.64.0.2']);
      await s.plugin.update({
        zone: 'rustynet',
        nodes: [
          { id: 'b', name: 'b', addresses: ['100.64.9.9'] },
          { id: 'd', name: 'delta', addresses: ['100.64.0.4'] },
        ],
      });
      expect(s.plugin.listening()[0].port).to.equal(s.port);
      expect(data(await query(s.port, 'b.rustynet', 'A'), 'A')).to.deep.equal(['100.64.9.9']);
      expect(data(await query(s.port, 'delta.rustynet', 'A'), 'A')).to.deep.equal(['100.64.0.4']);
      expect((await query(s.port, 'alpha.rustynet', 'A')).rcode).to.equal('NXDOMAIN');
      expect(s.plugin.zoneInfo().serial).to.be.greaterThan(serial1);
      // A new zone apex.
      await s.plugin.update({ zone: 'Corp.Mesh.', nodes: [{ id: 'b', name: 'b', addresses: ['100.64.9.9'] }] });
      expect(data(await query(s.port, 'b.corp.mesh', 'A'), 'A')).to.deep.equal(['100.64.9.9']);
      expect((await query(s.port, 'b.rustynet', 'A')).rcode).to.equal('REFUSED');
    } finally {
      await s.plugin.stop();
    }
  });

  it('rejects invalid data with INVALID_INPUT naming the field, and keeps serving the old data', async () => {
    const s = await startServer();
    try {
      const serial = s.plugin.zoneInfo().serial;
      const ok = { id: 'e', name: 'e', addresses: ['100.64.0.5'] };
      const cases: Array<[unknown, string]> = [
        [{ zone: 'bad_zone', nodes: [] }, 'zone'],
        [{ zone: '', nodes: [] }, 'zone'],
        [{ zone: 'rustynet', nodes: 'x' }, 'nodes'],
        [{ zone: 'rustynet', nodes: [ok, { id: 'Bad', name: 'x', addresses: [] }] }, 'nodes[1].id'],
        [{ zone: 'rustynet', nodes: [ok, { ...ok }] }, 'nodes[1].id'],
        [{ zone: 'rustynet', nodes: [ok, { id: 'f', name: 'no.dots', addresses: [] }] }, 'nodes[1].name'],
        [{ zone: 'rustynet', nodes: [ok, { id: 'f', name: 'f', addresses: ['100.64.0.6', '100.64.0.7/32'] }] }, 'nodes[1].addresses[1]'],
        [{ zone: 'rustynet', nodes: [ok, { id: 'f', name: 'f', addresses: ['fe80::1%eth0'] }] }, 'nodes[1].addresses[0]'],
      ];
      for (const [zone, field] of cases) {
        await expectCode(s.plugin.update(zone as never), 'INVALID_INPUT', field);
      }
      expect(s.plugin.zoneInfo().serial).to.equal(serial);
      expect(data(await query(s.port, 'alpha.rustynet', 'A'), 'A')).to.deep.equal(['100.64.0.1']);
      expect((await query(s.port, 'e.rustynet', 'A')).rcode).to.equal('NXDOMAIN');
    } finally {
      await s.plugin.stop();
    }
  });

  it('duplicate names: ids always win; otherwise the smallest node id gets the name', async () => {
    const s = await startServer(
      {},
      {
        zone: 'rustynet',
        nodes: [
          { id: 'n3', name: 'web', addresses: ['100.64.0.33'] },
          { id: 'n1', name: 'Web', addresses: ['100.64.0.11'] },
          { id: 'n2', name: 'web', addresses: ['100.64.0.22'] },
          { id: 'db', name: 'db', addresses: ['100.64.0.44'] },
          { id: 'x9', name: 'db', addresses: ['100.64.0.99'] },
          { id: 'x8', name: 'n2', addresses: ['100.64.0.88'] },
        ],
      },
    );
    try {
      expect(data(await query(s.port, 'web.rustynet', 'A'), 'A')).to.deep.equal(['100.64.0.11']);
      for (const [id, ip] of [
        ['n1', '100.64.0.11'],
        ['n2', '100.64.0.22'],
        ['n3', '100.64.0.33'],
        ['x9', '100.64.0.99'],
        ['x8', '100.64.0.88'],
      ]) {
        expect(data(await query(s.port, `${id}.rustynet`, 'A'), 'A'), id).to.deep.equal([ip]);
      }
      // "db" is node db's id: x9's name "db" does not shadow it. "n2" is an id: x8's name loses.
      expect(data(await query(s.port, 'db.rustynet', 'A'), 'A')).to.deep.equal(['100.64.0.44']);
      // Order of the input does not matter.
      await s.plugin.update({
        zone: 'rustynet',
        nodes: [
          { id: 'n2', name: 'web', addresses: ['100.64.0.22'] },
          { id: 'n1', name: 'web', addresses: ['100.64.0.11'] },
        ],
      });
      expect(data(await query(s.port, 'web.rustynet', 'A'), 'A')).to.deep.equal(['100.64.0.11']);
    } finally {
      await s.plugin.stop();
    }
  });
});

describe('dns-magic forwarder', () => {
  it('forwards out-of-zone names to the upstream and relays its answer', async () => {
    const upstream = await startServer({}, { zone: 'example', nodes: [{ id: 'www', name: 'www', addresses: ['198.51.100.7'] }] });
    const s = await startServer({ forwarder: { host: '127.0.0.1', port: upstream.port } });
    try {
      const r = await query(s.port, 'www.example', 'A', { id: 4321 });
      expect(r.id).to.equal(4321);
      expect(r.rcode).to.equal('NOERROR');
      expect(data(r, 'A')).to.deep.equal(['198.51.100.7']);
      expect((await query(s.port, 'nope.example', 'A')).rcode).to.equal('NXDOMAIN');
      // Over TCP from the client; forwarded over UDP.
      expect(data(await query(s.port, 'www.example', 'A', { tcp: true }), 'A')).to.deep.equal(['198.51.100.7']);
      // The zone itself is still answered locally.
      expect(data(await query(s.port, 'b.rustynet', 'A'), 'A')).to.deep.equal(['100.64.0.2']);
      expect(s.plugin.stats().forwarded.answered).to.equal(3);
    } finally {
      await s.plugin.stop();
      await upstream.plugin.stop();
    }
  });

  it('answers SERVFAIL when the upstream does not answer', async () => {
    const black = dgram.createSocket('udp4'); // receives and never answers
    await new Promise<void>((r) => black.bind(0, '127.0.0.1', () => r()));
    const s = await startServer({ forwarder: { host: '127.0.0.1', port: black.address().port, timeoutMs: 200 } });
    try {
      const r = await query(s.port, 'example.com', 'A', { id: 5 });
      expect(r.id).to.equal(5);
      expect(r.rcode).to.equal('SERVFAIL');
      expect(r.questions![0].name).to.equal('example.com');
      expect(s.plugin.stats().forwarded.timeout).to.equal(1);
    } finally {
      await s.plugin.stop();
      black.close();
    }
  });
});

describe('dns-magic rate limit (token counts, manual clock)', () => {
  it('answers `burst` queries per source, drops and counts the rest, refills with time', async () => {
    const s = await startServer({ rateLimit: { qps: 10, burst: 5 } });
    try {
      const sock = dgram.createSocket('udp4');
      let replies = 0;
      sock.on('message', () => replies++);
      const q = encodeQuery('alpha.rustynet', 'A');
      const send = (n: number): Promise<void> =>
        Promise.all(Array.from({ length: n }, () => new Promise<void>((r) => sock.send(q, s.port, '127.0.0.1', () => r())))).then(
          () => undefined,
        );
      await send(12);
      await until(() => {
        const st = s.plugin.stats();
        return (st.answers.NOERROR ?? 0) + st.rateLimited === 12 && replies === (st.answers.NOERROR ?? 0);
      });
      expect(s.plugin.stats().answers.NOERROR).to.equal(5);
      expect(s.plugin.stats().rateLimited).to.equal(7);
      expect(s.ctx.metrics.snapshot()['dns_rate_limited_total{transport=udp}']).to.equal(7);
      // 300 ms at 10 qps = 3 tokens.
      s.clock.t += 300;
      await send(5);
      await until(() => (s.plugin.stats().answers.NOERROR ?? 0) + s.plugin.stats().rateLimited === 17);
      expect(s.plugin.stats().answers.NOERROR).to.equal(8);
      expect(s.plugin.stats().rateLimited).to.equal(9);
      sock.close();
    } finally {
      await s.plugin.stop();
    }
  });

  it('with action "refused" answers excess queries with REFUSED', async () => {
    const s = await startServer({ rateLimit: { qps: 1, burst: 1, action: 'refused' } });
    try {
      expect((await query(s.port, 'alpha.rustynet', 'A')).rcode).to.equal('NOERROR');
      expect((await query(s.port, 'alpha.rustynet', 'A')).rcode).to.equal('REFUSED');
      expect(s.plugin.stats().rateLimited).to.equal(1);
    } finally {
      await s.plugin.stop();
    }
  });
});

describe('dns-magic life cycle', () => {
  it('NOT_RUNNING, ALREADY_RUNNING, idempotent stop, restart', async () => {
    const plugin = createPlugin(standaloneContext({}, 'error'));
    expect(plugin.kind).to.equal('dns');
    expect(plugin.capabilities()).to.deep.equal({ aaaa: true, forwarder: true, rateLimit: true });
    await expectCode(plugin.update(ZONE), 'NOT_RUNNING');
    await plugin.stop(); // never started: no-op
    await plugin.start({ listen: [{ host: '127.0.0.1', port: 0 }] });
    await expectCode(plugin.start({ listen: [{ host: '127.0.0.1', port: 0 }] }), 'ALREADY_RUNNING');
    await plugin.update(ZONE);
    const port = plugin.listening()[0].port;
    await plugin.stop();
    await plugin.stop();
    expect(plugin.listening()).to.deep.equal([]);
    // The port is free again: UDP and TCP can be bound by someone else.
    const probe = dgram.createSocket('udp4');
    await new Promise<void>((res, rej) => {
      probe.once('error', rej);
      probe.bind(port, '127.0.0.1', () => res());
    });
    probe.close();
    const tcpProbe = net.createServer();
    await new Promise<void>((res, rej) => {
      tcpProbe.once('error', rej);
      tcpProbe.listen(port, '127.0.0.1', () => res());
    });
    await new Promise((r) => tcpProbe.close(r));
    await expectCode(plugin.update(ZONE), 'NOT_RUNNING');
    await plugin.start({ listen: [{ host: '127.0.0.1', port: 0 }] });
    expect((await query(plugin.listening()[0].port, 'rustynet', 'SOA')).rcode).to.equal('NOERROR');
    await plugin.stop();
  });

  it('port in use: DNS_FAILED, nothing left bound', async () => {
    const busy = dgram.createSocket('udp4');
    await new Promise<void>((r) => busy.bind(0, '127.0.0.1', () => r()));
    const port = busy.address().port;
    const plugin = createPlugin(standaloneContext({}, 'error'));
    try {
      await expectCode(
        plugin.start({
          listen: [
            { host: '127.0.0.1', port: 0 },
            { host: '127.0.0.1', port },
          ],
        }),
        'DNS_FAILED',
      );
      expect(plugin.listening()).to.deep.equal([]);
      await expectCode(plugin.update(ZONE), 'NOT_RUNNING');
      // TCP port in use (UDP free) fails too.
      busy.close();
      const tcpBusy = net.createServer();
      await new Promise<void>((r) => tcpBusy.listen(port, '127.0.0.1', () => r()));
      await expectCode(plugin.start({ listen: [{ host: '127.0.0.1', port }] }), 'DNS_FAILED');
      await new Promise((r) => tcpBusy.close(r));
      // And it can start afterwards.
      await plugin.start({ listen: [{ host: '127.0.0.1', port }] });
      expect(plugin.listening()).to.deep.equal([{ host: '127.0.0.1', port }]);
    } finally {
      await plugin.stop();
    }
  });

  it('rejects bad listen config with INVALID_INPUT', async () => {
    const plugin = createPlugin(standaloneContext({}, 'error'));
    await expectCode(plugin.start({ listen: [] }), 'INVALID_INPUT', 'listen');
    await expectCode(plugin.start({ listen: [{ host: 'localhost', port: 53 }] }), 'INVALID_INPUT', 'listen[0].host');
    await expectCode(plugin.start({ listen: [{ host: '127.0.0.1', port: 70000 }] }), 'INVALID_INPUT', 'listen[0].port');
    expect(plugin.listening()).to.deep.equal([]);
  });

  it('serves IPv6 loopback too', async () => {
    const plugin = createPlugin(standaloneContext({ rateLimit: false }, 'error'));
    try {
      await plugin.start({ listen: [{ host: '::1', port: 0 }] });
    } catch (err) {
      if ((err as { details?: { errno?: string } }).details?.errno === 'EADDRNOTAVAIL') return; // no IPv6 on this host
      throw err;
    }
    try {
      await plugin.update(ZONE);
      const port = plugin.listening()[0].port;
      expect(data(await query(port, 'alpha.rustynet', 'AAAA', { host: '::1' }), 'AAAA')).to.deep.equal(['fd00::1']);
      expect(data(await query(port, 'alpha.rustynet', 'A', { host: '::1', tcp: true }), 'A')).to.deep.equal(['100.64.0.1']);
    } finally {
      await plugin.stop();
    }
  });

  it('refuses bad options with CONFIG_INVALID', () => {
    for (const [opts, field] of [
      [{ ttl: -1 }, 'options.ttl'],
      [{ forwarder: { host: 'dns.example', port: 53 } }, 'options.forwarder.host'],
      [{ rateLimit: { qps: 0 } }, 'options.rateLimit.qps'],
      [{ zone: 'a..b' }, 'options.zone'],
      [{ bogus: 1 }, 'options.bogus'],
    ] as const) {
      try {
        createPlugin(standaloneContext(opts, 'error'));
        expect.fail(`accepted ${JSON.stringify(opts)}`);
      } catch (err) {
        expect((err as { code?: string }).code, JSON.stringify(opts)).to.equal('CONFIG_INVALID');
        expect((err as { field?: string }).field).to.equal(field);
      }
    }
  });
});
