/**
 * Renders fastd v22 configuration: `fastd.conf` for this node and one peer file per peer in
 * the peer directory (`include peers from`). Pure functions: data-plane.ts writes the files.
 *
 * The shape: `mode tun` with one fastd for all peers. In TUN mode fastd gives every peer its
 * own tun device (the peer file's `interface`), so the kernel's routing table decides which
 * peer a packet goes to (a route per allowed IP through that peer's device) and the device a
 * packet arrives on says which authenticated peer sent it (the source filter in filter.ts).
 */
import type { PeerConfig } from '@rustynet/plugin-api';

/** fastd's data-channel method: AES-128 in GCM (fastd's `aes128-gcm`, CTR + GHASH). */
export const METHOD = 'aes128-gcm';
/** What `stats().peers[].cipher` reports for {@link METHOD}. */
export const CIPHER_NAME = 'AES-128-GCM';
/** The cipher name for a method fastd reports in its status (only {@link METHOD} is configured). */
export function cipherName(method: string): string {
  return method === METHOD ? CIPHER_NAME : method;
}

/** What fastd.conf needs. */
export interface FastdSelf {
  /** The secret key fragment (`secret "…";`, 0600) in the key directory. */
  secretFile: string;
  port: number;
  mtu: number;
  peerDir: string;
  statusSocket: string;
}

/** `fastd.conf`. */
export function renderFastdConf(self: FastdSelf): string {
  const q = JSON.stringify;
  const lines = [
    `include ${q(self.secretFile)};`,
    'mode tun;',
    `method ${q(METHOD)};`,
    `bind any:${self.port};`,
    `mtu ${self.mtu};`,
    `status socket ${q(self.statusSocket)};`,
    // fastd drops every capability but CAP_NET_ADMIN after start; keep that default explicit
    'drop capabilities yes;',
    `include peers from ${q(self.peerDir)};`,
  ];
  return `${lines.join('\n')}\n`;
}

/** A peer's file: its key, its endpoint (if any: fastd then dials it), its own tun device. */
export function renderPeerFile(peer: PeerConfig, device: string): string {
  const q = JSON.stringify;
  const lines = [`key ${q(peer.publicKey)};`];
  if (peer.endpoint) {
    const h = peer.endpoint.host.includes(':') ? `[${peer.endpoint.host}]` : peer.endpoint.host;
    lines.push(`remote ${h}:${peer.endpoint.port};`);
  }
  lines.push(`interface ${q(device)};`);
  return `${lines.join('\n')}\n`;
}
