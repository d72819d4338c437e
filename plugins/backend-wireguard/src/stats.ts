/** Run-time statistics of the WireGuard backend, read from `wg show <if> dump`. */
import type { BackendRuntimeStats, NodeId, PeerStats } from '@rustynet/plugin-api';
import type { CallScope } from '@rustynet/plugin-kit';
import type { RunningState } from './running-state.js';
import type { Tools } from './tools.js';
import { parseWgDump } from './wg-dump.js';

/**
 * A handshake older than this (WireGuard's REJECT_AFTER_TIME, 180 s) means the session is gone;
 * used for the `state` word in stats.
 */
const SESSION_LIFETIME_MS = 180_000;

/** The data-channel cipher of the WireGuard protocol (Noise_IKpsk2 transport messages). */
export const WIREGUARD_CIPHER = 'ChaCha20-Poly1305';

/**
 * Per-peer counters, handshakes and endpoints of this backend's peers (peers added behind its
 * back are not reported).
 * @param now the plugin clock's time, in ms since the epoch.
 * @throws RustynetError `BACKEND_FAILED`, `TIMEOUT`, `ABORTED`.
 */
export async function readStats(tools: Tools, st: RunningState, now: number, scope: CallScope): Promise<BackendRuntimeStats> {
  const r = await tools.wg(['show', st.config.interfaceName, 'dump'], scope);
  const dump = parseWgDump(r.stdout);
  const idByKey = new Map<string, NodeId>();
  for (const p of st.peers.values()) idByKey.set(p.publicKey, p.id);
  const peers: PeerStats[] = [];
  for (const p of dump.peers) {
    const id = idByKey.get(p.publicKey);
    if (id === undefined) continue; // not ours (added behind our back): not reported
    const lastHandshakeAt = p.latestHandshake === null ? null : p.latestHandshake * 1000;
    const s: PeerStats = {
      id,
      lastHandshakeAt,
      rxBytes: p.rxBytes,
      txBytes: p.txBytes,
      state: lastHandshakeAt !== null && now - lastHandshakeAt < SESSION_LIFETIME_MS ? 'up' : 'connecting',
    };
    if (p.endpoint) s.endpoint = p.endpoint;
    // WireGuard has one data cipher and nothing to negotiate: report it once a session exists
    if (lastHandshakeAt !== null) s.cipher = WIREGUARD_CIPHER;
    peers.push(s);
  }
  return { interfaces: [st.config.interfaceName], peers, listenPort: dump.listenPort };
}
