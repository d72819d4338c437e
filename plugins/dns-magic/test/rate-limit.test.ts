/** The per-source rate limit: token counts on a manual clock, drop or REFUSED. */
import * as dgram from 'node:dgram';
import { expect } from 'chai';
import { encodeQuery, query, startServer, until } from './helpers.js';

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
