/** Helpers shared by several areas of the suite. */
import type { StepContext } from '../../step-context.js';
import { DNS_PORT_C, ZONE, type DigResult, type DnsFixture } from '../fixture.js';

/** One expected answer: `name type` -> rcode and the exact set of record data (for `type`). */
export interface Expect {
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

/** What a reply looked like, for failure reports. */
export function summary(r: DigResult | null): unknown {
  return r === null
    ? 'no reply (timeout or connection refused)'
    : { status: r.status, flags: r.flags, answers: r.answers.map((a) => `${a.name} ${a.type} ${a.data}`) };
}

/**
 * Asks every query (concurrently) with dig and fails listing each answer that differs from the
 * expectation (rcode, AA flag, record data).
 */
export async function expectAnswers(
  t: StepContext,
  fx: DnsFixture,
  exps: Expect[],
  how: { tcp?: boolean; ask?: (e: Expect) => Promise<DigResult | null> } = {},
): Promise<void> {
  t.begin(`dig ${exps.map((e) => `${e.name} ${e.type}`).join(', ')}${how.tcp ? ' (+tcp)' : ''}`);
  const got = await Promise.all(exps.map((e) => (how.ask ? how.ask(e) : fx.ask(e.name, e.type, { tcp: how.tcp ?? false }))));
  const wrong: { query: string; expected: unknown; actual: unknown }[] = [];
  exps.forEach((e, i) => {
    const r = got[i] ?? null;
    const data = r
      ? r.answers
          .filter((a) => a.type === e.type)
          .map((a) => a.data.toLowerCase())
          .sort()
      : [];
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

/** An expected answer: `name type` -> `status` with exactly `data` (and the AA flag unless `aa` is false). */
export const q = (name: string, type: string, status: string, data: string[] = [], aa?: boolean): Expect => ({
  name: name,
  type,
  status,
  data,
  ...(aa !== undefined && { aa }),
});

/** Start config of an instance on c. */
export function cListen(fx: DnsFixture, port = DNS_PORT_C): { listen: { host: string; port: number }[] } {
  return { listen: [{ host: fx.net.host('c').underlayAddress, port }] };
}

/** dig from b to c's instance. */
export function askC(fx: DnsFixture, name: string, opts: { tcp?: boolean; port?: number } = {}): Promise<DigResult | null> {
  return fx.dig(fx.net.host('b'), fx.net.host('c').underlayAddress, opts.port ?? DNS_PORT_C, name, 'A', { tcp: opts.tcp ?? false });
}

/** Asserts the instance on c answers `b.<zone> A` (because of `why`). */
export async function expectCAnswers(t: StepContext, fx: DnsFixture, why: string): Promise<void> {
  t.begin(`dig b.${ZONE} at c (${why})`);
  const r = await askC(fx, `b.${ZONE}`);
  t.check(
    r?.status === 'NOERROR' && r.answers.some((a) => a.type === 'A' && a.data === '100.64.0.2'),
    `the instance on c does not answer (${why})`,
    'NOERROR b A 100.64.0.2',
    summary(r),
  );
}

/** UDP and TCP sockets bound to `port` in `host`'s namespace (`ss`), one line each. */
export async function boundOn(fx: DnsFixture, host: 'a' | 'c', port: number): Promise<string[]> {
  const out: string[] = [];
  for (const proto of ['-uan', '-tln']) {
    const r = await fx.net.host(host).exec('ss', ['-H', proto, 'sport', '=', `:${port}`], { reject: false });
    out.push(
      ...r.stdout
        .split('\n')
        .map((l) => l.trim())
        .filter(Boolean)
        .map((l) => `${proto === '-uan' ? 'udp' : 'tcp'} ${l.replace(/\s+/g, ' ')}`),
    );
  }
  return out;
}
