/** The server on loopback: answers, negative answers, TCP, EDNS0, malformed queries, metrics, truncation. */
import * as dgram from 'node:dgram';
import { expect } from 'chai';
import * as dnsPacket from 'dns-packet';
import { data, encodeQuery, query, startServer, tcpExchange, udpExchange, until, type TestServer } from './helpers.js';

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
