import type { NodeId, PeerPath } from '@rustynet/plugin-api';

/**
 * Which path each peer uses. Implemented by the path controller (`PathController`); the path is
 * passed to `resolvePeerEndpoint` taps and reported in status.
 */
export interface PeerPathSource {
  pathFor(peer: NodeId): PeerPath;
}

/** Every peer direct: the behaviour without `pathProbe`. */
export const DIRECT_PATHS: PeerPathSource = { pathFor: () => 'direct' };
