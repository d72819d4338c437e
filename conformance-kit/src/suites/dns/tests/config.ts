import type { PluginHost } from '../../../host/plugin-host-client.js';
import type { KitTest } from '../../define.js';
import type { StepContext } from '../../step-context.js';
import { kitOptionSkip } from '../../common/kit-options.js';
import { ZONE, type DnsFixture } from '../fixture.js';
import { cListen, summary } from './helpers.js';

type T = KitTest<DnsFixture>;

/** Port of the kit-option instances on c. */
const PORT = 5303;
/** Port of the stub upstream DNS server the kit runs in b's namespace. */
const UPSTREAM_PORT = 5353;
/** The address the stub upstream answers for every name (TEST-NET-1: data only, never contacted). */
const UPSTREAM_ANSWER = '192.0.2.53';

/** Starts `p` on c's port {@link PORT} with zone v1, runs `fn`, stops it. */
async function serving(t: StepContext, fx: DnsFixture, p: PluginHost, fn: () => Promise<void>): Promise<void> {
  t.begin('start the instance on c and update(zone v1)');
  await t.ok('start', fx.start(p, cListen(fx, PORT)));
  try {
    await t.ok('update', fx.update(p, fx.zoneV1()));
    await fn();
  } finally {
    await fx.stop(p).catch(() => undefined);
  }
}

const askC = (fx: DnsFixture, name: string, type = 'A'): ReturnType<DnsFixture['dig']> =>
  fx.dig(fx.net.host('b'), fx.net.host('c').underlayAddress, PORT, name, type);

/**
 * A stub upstream DNS server, run by the kit in b's namespace on its underlay address: answers
 * every query with one A record {@link UPSTREAM_ANSWER}. Prints `ready` once bound.
 */
const UPSTREAM_SCRIPT = `
const dgram = require('node:dgram');
const s = dgram.createSocket('udp4');
s.on('message', (q, r) => {
  if (q.length < 12) return;
  let o = 12; while (o < q.length && q[o] !== 0 && o < 300) o += q[o] + 1;
  const question = q.subarray(12, o + 5);
  const h = Buffer.from(q.subarray(0, 12)); h[2] = 0x81; h[3] = 0x80; h.writeUInt16BE(1, 4); h.writeUInt16BE(1, 6); h.writeUInt16BE(0, 8); h.writeUInt16BE(0, 10);
  const ans = Buffer.from([0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 30, 0, 4, ${UPSTREAM_ANSWER.split('.').join(', ')}]);
  s.send(Buffer.concat([h, question, ans]), r.port, r.address);
});
s.bind(${UPSTREAM_PORT}, process.argv[1], () => console.log('ready'));
setTimeout(() => process.exit(0), 60000);
`;

/** Sends `n` queries for b.<zone> at once from b to c's instance; prints the number of answers seen within 1.5 s. */
const BURST_SCRIPT = `
const dgram = require('node:dgram');
const [host, port, n] = [process.argv[1], Number(process.argv[2]), Number(process.argv[3])];
const s = dgram.createSocket('udp4');
const seen = new Set();
s.on('message', (m) => { if (m.length >= 12) seen.add(m.readUInt16BE(0)); });
s.bind(0, () => {
  for (let i = 0; i < n; i++) {
    const q = Buffer.concat([Buffer.from([i >> 8, i & 255, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, 98, 8]), Buffer.from('${ZONE}'), Buffer.from([0, 0, 1, 0, 1])]);
    s.send(q, port, host);
  }
  setTimeout(() => { console.log(seen.size); process.exit(0); }, 1500);
});
`;

/** The `dns.config.*` tests (kit options), in run order. */
export const configTests: T[] = [
  {
    id: 'dns.config.ttl',
    title: 'with kit option `ttl` 17, positive answers carry TTL 17 and the SOA of a negative answer at most 17',
    gate: 'kit option ttl',
    skipIf: (fx) => kitOptionSkip(fx.manifest, ['ttl']),
    async run(t, fx) {
      const p = await fx.instanceWith({ ttl: 17 }, 'ttl');
      await serving(t, fx, p, async () => {
        t.begin(`dig b.${ZONE} A and nobody.${ZONE} A at c`);
        const [pos, neg] = await Promise.all([askC(fx, `b.${ZONE}`), askC(fx, `nobody.${ZONE}`)]);
        const ttls = pos?.answers.map((a) => a.ttl) ?? [];
        t.check(ttls.length > 0 && ttls.every((x) => x === 17), 'the answer does not carry the configured TTL', 'TTL 17', {
          ttls,
          reply: summary(pos),
        });
        const soa = neg?.authority.find((a) => a.type === 'SOA');
        t.check(
          soa !== undefined && soa.ttl <= 17,
          'the negative answer SOA TTL exceeds the configured TTL',
          'SOA TTL <= 17',
          soa ?? summary(neg),
        );
      });
    },
  },
  {
    id: 'dns.config.rate-limit',
    title:
      'with kit option `rateLimit` { qps: 5, burst: 10 }, 200 queries sent at once from b get at most 10 + 5 × 3 answers, while a query from a (another source) is still answered',
    gate: 'rateLimit, kit option rateLimit',
    skipIf: (fx) => (fx.caps.rateLimit ? kitOptionSkip(fx.manifest, ['rateLimit']) : 'the plugin does not claim rateLimit'),
    async run(t, fx) {
      const p = await fx.instanceWith({ rateLimit: { qps: 5, burst: 10 } }, 'rate');
      await serving(t, fx, p, async () => {
        t.begin('b sends 200 queries at once');
        const r = await fx.net
          .host('b')
          .exec(process.execPath, ['-e', BURST_SCRIPT, fx.net.host('c').underlayAddress, String(PORT), '200'], {
            reject: false,
            timeoutMs: 10_000,
          });
        const answered = Number(r.stdout.trim());
        t.check(Number.isInteger(answered), 'the burst sender failed', 'a count', r.stdout + r.stderr);
        t.check(answered >= 1, 'no query of the burst was answered: the test is inconclusive', '>= 1', answered);
        t.check(answered <= 25, 'the burst from one source was not rate-limited', '<= 25 answers (burst 10 + 5/s)', answered);
        t.begin('a query from a (another source) is answered');
        const other = await fx.dig(fx.net.host('a'), fx.net.host('c').underlayAddress, PORT, `b.${ZONE}`, 'A');
        t.check(other?.status === 'NOERROR', 'another source is not answered while b is limited', 'NOERROR', summary(other));
      });
    },
  },
  {
    id: 'dns.config.forwarder',
    title:
      'with kit option `forwarder` = a stub upstream the kit runs in b, out-of-zone names are answered with the upstream answer; names in the zone stay authoritative',
    gate: 'forwarder, kit option forwarder',
    skipIf: (fx) => (fx.caps.forwarder ? kitOptionSkip(fx.manifest, ['forwarder']) : 'the plugin does not claim forwarder'),
    async run(t, fx) {
      const b = fx.net.host('b');
      t.begin(`start the stub upstream in b (${b.underlayAddress}:${UPSTREAM_PORT})`);
      const up = b.spawn(process.execPath, ['-e', UPSTREAM_SCRIPT, b.underlayAddress], {
        stdin: 'ignore',
        stdout: 'pipe',
        stderr: 'pipe',
        buffer: false,
      });
      try {
        await new Promise<void>((res, rej) => {
          const timer = setTimeout(() => rej(new Error('the stub upstream did not start')), 5000);
          up.stdout?.on('data', (d: Buffer) => {
            if (d.toString().includes('ready')) {
              clearTimeout(timer);
              res();
            }
          });
        });
        const p = await fx.instanceWith({ forwarder: { host: b.underlayAddress, port: UPSTREAM_PORT } }, 'forwarder');
        await serving(t, fx, p, async () => {
          t.begin('dig example.test A and b.<zone> A at c');
          const [fwd, own] = await Promise.all([askC(fx, 'example.test'), askC(fx, `b.${ZONE}`)]);
          t.check(
            fwd?.status === 'NOERROR' && fwd.answers.some((a) => a.type === 'A' && a.data === UPSTREAM_ANSWER),
            'an out-of-zone name is not answered by the forwarder',
            `NOERROR example.test A ${UPSTREAM_ANSWER}`,
            summary(fwd),
          );
          t.check(
            own?.status === 'NOERROR' && own.flags.includes('aa') && own.answers.some((a) => a.data === '100.64.0.2'),
            'an in-zone name is not answered authoritatively with a forwarder configured',
            'NOERROR aa b A 100.64.0.2',
            summary(own),
          );
        });
      } finally {
        up.kill('SIGTERM');
      }
    },
  },
];
