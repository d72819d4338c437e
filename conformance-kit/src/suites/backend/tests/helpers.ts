import type { BackendRuntimeStats, PeerStats } from '@rustynet/plugin-api';
import type { StepContext } from '../../step-context.js';
import type { BackendFixture, SuiteNode } from '../fixture.js';

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
