/**
 * Renders tinc 1.0 configuration (tinc.conf(5)): `tinc.conf` for this node and one
 * `hosts/<name>` file per node. Pure functions: the daemon module writes the files.
 *
 * The shape: `Mode = router` on one tun device, so tinc delivers a packet to the node whose
 * `Subnet` holds its destination. `TunnelServer = yes` keeps tinc from forwarding other nodes'
 * information and from accepting nodes without a local `hosts/` file, and `StrictSubnets = yes`
 * makes the local `hosts/` files the only source of subnets: a peer's subnets are exactly its
 * allowed IPs as the netmap gives them, never what the peer announces.
 */
import type { PeerConfig } from '@rustynet/plugin-api';
import { peerKeyToPem, tincName } from './key-format.js';

/** Data-channel cipher and MAC written into our host file (tinc 1.0 has no AEAD mode). */
export const CIPHER = 'aes-256-cbc';
/** HMAC digest of the data channel. */
export const DIGEST = 'sha256';
/** What `stats().peers[].cipher` reports: the cipher and MAC tinc 1.0 uses, as configured. */
export const CIPHER_NAME = 'AES-256-CBC+HMAC-SHA256';
/**
 * Seconds between tinc's pings on idle meta connections (tinc's own default). tinc 1.0 has one
 * global `PingInterval` and sends path-MTU probes on its own after a connection is made, so it
 * cannot honour a per-peer `persistentKeepalive`: the manifest declares `persistentKeepalive:
 * false` and the field is ignored, as the capability's contract asks.
 */
export const PING_INTERVAL = 60;
/**
 * Upper bound of tinc's reconnect back-off in seconds (`MaxTimeout`; tinc's default 900). 1: the
 * dialling side retries a lost peer every second (tinc adds 5 s per failure up to this bound),
 * so a peer whose tincd restarted is reached about a second after it has our host file again.
 */
export const MAX_TIMEOUT = 1;

/**
 * Seconds tinc waits for a PONG, and for a new connection to finish authentication
 * (`PingTimeout`; tinc's default 5). 1: a connection that stalls in authentication (tinc 1.0
 * can leave one stalled when both sides of a pair dial each other at once, or when the other side
 * refused it before it had our host file) is dropped and retried within about 2 s instead of 5.
 */
export const PING_TIMEOUT = 1;

/** Whether this node dials `peer` (`ConnectTo`): whenever the peer has an endpoint. */
export function dials(peer: PeerConfig): boolean {
  return peer.endpoint !== undefined;
}

/** What tinc.conf needs. */
export interface TincSelf {
  name: string;
  interfaceName: string;
  port: number;
  privateKeyFile: string;
}

/** `tinc.conf`: `ConnectTo` every peer this node {@link dials} (`persistentKeepalive` is ignored, see {@link PING_INTERVAL}). */
export function renderTincConf(self: TincSelf, peers: readonly PeerConfig[]): string {
  const lines = [
    `Name = ${self.name}`,
    'Mode = router',
    'DeviceType = tun',
    'Device = /dev/net/tun',
    `Interface = ${self.interfaceName}`,
    'AddressFamily = ipv4',
    `PrivateKeyFile = ${self.privateKeyFile}`,
    'TunnelServer = yes',
    'StrictSubnets = yes',
    `PingInterval = ${PING_INTERVAL}`,
    `PingTimeout = ${PING_TIMEOUT}`,
    `MaxTimeout = ${MAX_TIMEOUT}`,
    ...peers.filter((p) => dials(p)).map((p) => `ConnectTo = ${tincName(p.publicKey)}`),
  ];
  return `${lines.join('\n')}\n`;
}

/**
 * Our own `hosts/<name>`: port, the subnets we own, the cipher peers encrypt to us with, our
 * public key. Besides our addresses we own `0.0.0.0/0`: tinc routes by longest prefix, so a
 * packet from a peer for an address no peer owns (a second address of ours, a LAN behind us) is
 * written to our device and the kernel decides, like WireGuard's receive path. Peers never
 * learn it: their StrictSubnets ignores what we announce.
 */
export function renderSelfHost(port: number, addresses: readonly string[], publicKey: string): string {
  const lines = [
    `Port = ${port}`,
    `Cipher = ${CIPHER}`,
    `Digest = ${DIGEST}`,
    'MACLength = 16',
    ...addresses.map((a) => `Subnet = ${a}`),
    'Subnet = 0.0.0.0/0',
  ];
  return `${lines.join('\n')}\n${peerKeyToPem(publicKey)}`;
}

/** A peer's `hosts/<name>`: its endpoint (if any), its allowed IPs as subnets, its public key. */
export function renderPeerHost(peer: PeerConfig): string {
  const lines: string[] = [];
  if (peer.endpoint) lines.push(`Address = ${peer.endpoint.host} ${peer.endpoint.port}`);
  lines.push(`Cipher = ${CIPHER}`, `Digest = ${DIGEST}`, 'MACLength = 16');
  for (const c of peer.allowedIps) lines.push(`Subnet = ${c}`);
  return `${lines.join('\n')}\n${peerKeyToPem(peer.publicKey)}`;
}
