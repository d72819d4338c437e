import type { Endpoint } from './endpoint.js';
import type { NodeId } from './node-id.js';

/** Run-time counters of one peer, as reported by a backend. */
export interface PeerStats {
  /** Peer id. */
  id: NodeId;
  /** The endpoint the backend currently sends to, if any. */
  endpoint?: Endpoint;
  /** Time of the latest completed handshake in ms since the epoch; `null` if none yet. */
  lastHandshakeAt: number | null;
  /** Bytes received from the peer (tunnel payload as counted by the backend). */
  rxBytes: number;
  /** Bytes sent to the peer. */
  txBytes: number;
  /** Backend-specific free-form health word (`up`, `connecting`, `restarting`, ...). */
  state?: string;
  /**
   * Local underlay UDP port that carries this peer, when the backend listens per peer rather than
   * on one port for all. A relay delivering this peer's datagrams sends them here; absent means
   * the backend's `listenPort`.
   */
  localPort?: number;
  /**
   * The data-channel cipher in use with this peer once a session exists, as an AEAD name in
   * OpenSSL spelling (`ChaCha20-Poly1305`, `AES-256-GCM`, `AES-128-GCM`); what was negotiated,
   * not what was offered. Absent before the first session, or when the backend cannot tell.
   * Optional and additive (API 1.x); the conformance kit's `backend.encryption.aead-cipher`
   * requires it for a peer that carried traffic and accepts only AEAD ciphers.
   */
  cipher?: string;
}

/** A backend's run-time report. */
export interface BackendStats {
  /** Tunnel network interfaces the backend owns (for policy plugins). */
  interfaces: string[];
  /** Per-peer statistics read from the data plane. */
  peers: PeerStats[];
}
