import { expect } from 'chai';
import * as net from 'node:net';
import * as dnsPacket from 'dns-packet';
import { data, encodeQuery, startServer, tcpExchange, until } from './helpers.js';

/** Opens `n` idle TCP connections to 127.0.0.1:`port` (connected, never sending). */
async function idleConnections(port: number, n: number): Promise<net.Socket[]> {
  const socks: net.Socket[] = [];
  for (let i = 0; i < n; i++) {
    const s = net.connect({ host: '127.0.0.1', port });
    s.on('error', () => undefined);
    await new Promise<void>((resolve) => s.once('connect', () => resolve()).once('close', () => resolve()));
    socks.push(s);
  }
  return socks;
}

const open = (socks: net.Socket[]): number => socks.filter((s) => !s.destroyed && s.readyState === 'open').length;

describe('dns-magic TCP limits (idle timeout, per-source cap, eviction)', function () {
  this.timeout(30_000);

  it('3000 idle local connections do not lock out a real TCP query', async () => {
    const s = await startServer();
    const idle = await idleConnections(s.port, 3000);
    try {
      const t0 = Date.now();
      const replies = await tcpExchange(s.port, [encodeQuery('alpha.rustynet', 'A', { id: 7 })]);
      const ms = Date.now() - t0;
      const answer = dnsPacket.decode(replies[0]);
      console.log(`      answered over TCP in ${ms} ms with 3000 idle connections opened (${open(idle)} still open)`);
      expect(data(answer, 'A')).to.deep.equal(['100.64.0.1']);
      // At most the per-source cap (default 16) of them stay open; the rest were evicted.
      await until(() => open(idle) <= 16);
      const evicted = s.ctx.metrics.snapshot()['dns_tcp_evicted_total{reason=source_limit}'] ?? 0;
      expect(evicted, 'evictions counted').to.be.at.least(3000 - 16);
    } finally {
      for (const c of idle) c.destroy();
      await s.plugin.stop();
    }
  });

  it('the total cap evicts the longest-idle connection of any source', async () => {
    const s = await startServer({ maxTcpConnections: 4, maxTcpConnectionsPerSource: 100 });
    const idle = await idleConnections(s.port, 4);
    try {
      const replies = await tcpExchange(s.port, [encodeQuery('b.rustynet', 'A', { id: 9 })]);
      expect(data(dnsPacket.decode(replies[0]), 'A')).to.deep.equal(['100.64.0.2']);
      await until(() => idle[0].destroyed || idle[0].readyState !== 'open');
      expect(open(idle)).to.equal(3);
    } finally {
      for (const c of idle) c.destroy();
      await s.plugin.stop();
    }
  });

  it('closes a connection idle for tcpIdleTimeoutMs', async () => {
    const s = await startServer({ tcpIdleTimeoutMs: 200 });
    const [c] = await idleConnections(s.port, 1);
    try {
      const t0 = Date.now();
      await new Promise<void>((resolve) => c.once('close', () => resolve()));
      expect(Date.now() - t0).to.be.below(2000);
    } finally {
      c.destroy();
      await s.plugin.stop();
    }
  });
});
