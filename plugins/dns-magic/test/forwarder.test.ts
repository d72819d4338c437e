/** The forwarder: out-of-zone names go to the upstream; SERVFAIL when it does not answer. */
import * as dgram from 'node:dgram';
import { expect } from 'chai';
import { data, query, startServer } from './helpers.js';

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
