import type { NodeId, PeerPath } from '@rustynet/plugin-api';

/**
 * Seam for the path controller (not built yet): the daemon asks it which path each peer uses.
 * The path is passed to `resolvePeerEndpoint` taps (the relay plugin substitutes its endpoint for
 * `relay`) and reported in status. A future controller watches handshakes and calls
 * `backend.updatePeerEndpoint` directly for fast switches, then `Daemon.reapply()` (exists).
 */
export interface PeerPathSource {
  pathFor(peer: NodeId): PeerPath;
}

/** Every peer direct: the behaviour until the path controller exists. */
export const DIRECT_PATHS: PeerPathSource = { pathFor: () => 'direct' };
