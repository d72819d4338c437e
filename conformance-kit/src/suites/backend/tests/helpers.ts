import type { BackendRuntimeStats, PeerStats } from '@rustynet/plugin-api';
import type { StepContext } from '../../step-context.js';
import { ECHO_UDP_PORT, type BackendFixture, type SuiteNode } from '../fixture.js';

/** The stats entry of peer `id`, if listed. */
export function peerStat(st: BackendRuntimeStats, id: string): PeerStats | undefined {
  return st.peers.find((p) => p.id === id);
}

/** The sorted peer ids of a stats() result. */
export function peerIds(st: BackendRuntimeStats): string[] {
  return st.peers.map((p) => p.id).sort();
}

/** Asserts that `from` gets a ping reply from `ip` (step `ping <from> -> <ip>`). */
export async function expectPing(t: StepContext, fx: BackendFixture, from: SuiteNode, ip: string, why = ''): Promise<void> {
  t.begin(`ping ${from.name} -> ${ip}${why ? ` (${why})` : ''}`);
  t.check(
    await fx.ping(from, ip),
    `no ping reply from ${ip} on ${from.name}${why ? ` (${why})` : ''}`,
    'reply',
    'no reply within 3 attempts of 1 s',
  );
}

/** Asserts that `from` gets no ping reply from `ip` (one attempt), because of `why`. */
export async function expectNoPing(t: StepContext, fx: BackendFixture, from: SuiteNode, ip: string, why: string): Promise<void> {
  t.begin(`ping ${from.name} -> ${ip} must fail (${why})`);
  t.check(!(await fx.ping(from, ip, 1)), `${ip} still answers from ${from.name} although ${why}`, 'no reply', 'reply');
}

/**
 * Asserts that `from` gets a ping reply from `ip` after the session with that peer had to be
 * re-established (a restart, re-add or key change): the kit's default pings (`attempts` of 1 s),
 * and for a plugin declaring `sessionReestablishSeconds` up to that bound, never longer. When a
 * bound is declared, records it (`sessionReestablishBoundMs`, multiplied) and the test's longest
 * such wait (`sessionReestablishMs`) as measurements.
 * Only for steps whose point is a new session (isolation, secrets and bad input never use it).
 */
export async function expectSession(
  t: StepContext,
  fx: BackendFixture,
  from: SuiteNode,
  ip: string,
  why: string,
  attempts = 3,
): Promise<void> {
  const boundMs = fx.ms(fx.sessionWaitMs());
  const declared = boundMs > 0 ? `, up to the declared sessionReestablishSeconds: ${boundMs / 1000} s` : '';
  t.begin(`ping ${from.name} -> ${ip} (${why}: a new session${declared})`);
  const r = await fx.awaitSession(from, ip, attempts);
  if (boundMs > 0) {
    t.measure('sessionReestablishBoundMs', boundMs);
    const prev = t.measurements['sessionReestablishMs'];
    t.measure('sessionReestablishMs', Math.max(typeof prev === 'number' ? prev : 0, r.waitedMs));
  }
  t.check(
    r.reply,
    `no ping reply from ${ip} on ${from.name} (${why})${boundMs > 0 ? ` within the declared ${boundMs / 1000} s` : ''}`,
    'reply',
    `no reply in ${r.attempts} attempts over ${r.waitedMs} ms`,
  );
}

/** Asks the UDP echo server at `ip` which host it is (`attempts` tries of `timeoutMs` ms). @returns its name, or null. */
export async function whoami(from: SuiteNode, ip: string, attempts = 3, timeoutMs = 1000): Promise<string | null> {
  const r = await from.host.udpSend(ip, ECHO_UDP_PORT, 'whoami', { timeoutMs, attempts });
  return r === null ? null : r.toString();
}

/** Runs `body` with `cidr` on the loopback of `hosts`, removed afterwards. */
export async function withLoopback(hosts: SuiteNode[], cidr: string, body: () => Promise<void>): Promise<void> {
  // nodad: an IPv6 address is usable at once (no duplicate address detection)
  const nodad = cidr.includes(':') ? ['nodad'] : [];
  await Promise.all(hosts.map((n) => n.host.exec('ip', ['addr', 'replace', cidr, 'dev', 'lo', ...nodad])));
  try {
    await body();
  } finally {
    await Promise.all(hosts.map((n) => n.host.exec('ip', ['addr', 'del', cidr, 'dev', 'lo'], { reject: false })));
  }
}
