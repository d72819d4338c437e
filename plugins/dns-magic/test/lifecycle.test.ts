/** The plugin's life cycle: NOT_RUNNING/ALREADY_RUNNING, busy ports, bad listen config, IPv6 loopback. */
import * as dgram from 'node:dgram';
import * as net from 'node:net';
import { expect } from 'chai';
import { createPlugin } from '../src/index.js';
import { standaloneContext } from '../src/standalone.js';
import { ZONE, data, expectCode, query } from './helpers.js';

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
