/**
 * The deterministic rules that let two nodes agree on a tunnel without any extra configuration:
 * who is the TLS server, which UDP ports each side binds and sends to, and device names.
 * Documented in docs/backends/openvpn.md ("Roles and ports").
 */
import type { BackendCapabilities, Endpoint } from '@rustynet/plugin-api';
import { parseIp, unmapIPv4 } from '@rustynet/plugin-kit';

/** Protocol id under which nodes carry this backend's key material in the netmap. */
export const PROTOCOL = 'openvpn';

/**
 * The key material of a node: the SHA-256 fingerprint of its DER certificate as 32 upper-case hex
 * bytes joined by `:` (the form `openvpn --peer-fingerprint` accepts, OpenVPN 2.6 manual).
 */
export const FINGERPRINT_PATTERN = '^([0-9A-F]{2}:){31}[0-9A-F]{2}$';
const FINGERPRINT_RE = new RegExp(FINGERPRINT_PATTERN);

/** True when `value` is a fingerprint in the canonical form. */
export function isFingerprint(value: unknown): value is string {
  return typeof value === 'string' && FINGERPRINT_RE.test(value);
}

/** Formats a 32-byte digest as `AB:CD:...`. */
export function formatFingerprint(digest: Uint8Array): string {
  return Array.from(digest, (b) => b.toString(16).padStart(2, '0').toUpperCase()).join(':');
}

/**
 * Capabilities of this backend. The manifest (`rustynet-plugin.json`) carries the same object; a
 * unit test keeps the two equal.
 * - roaming: `updatePeerEndpoint` restarts that peer's openvpn instance with the new `remote`
 *   (the tun device, its addresses and routes survive); traffic resumes after one TLS handshake.
 * - udpTransport: each instance speaks UDP from its own per-peer port (reported per peer as
 *   `stats().peers[].localPort`, bound on every local address, loopback included), and an
 *   endpoint on a loopback address (a local proxy such as the relay client) is used literally,
 *   without the per-pair port derivation (see {@link isProxyEndpoint}). So a relay can stand in
 *   for a peer: tested end to end by core/cli/test/relay-fallback.int.test.ts.
 * - exitNode: default routes go to a separate routing table chosen by policy rules for packets
 *   without the instances' fwmark (`--mark`), so the encrypted underlay packets never loop.
 * - maxPeers: one process, one tun device and one UDP port per peer; 128 keeps device names
 *   within IFNAMSIZ and is within the port span.
 * - processPerPeer: one long-lived `openvpn` process per peer (spawned concurrently per batch);
 *   the short-lived commands of a batch (`ip -batch`, `sysctl`) stay constant.
 */
export const CAPABILITIES: Readonly<BackendCapabilities> = Object.freeze({
  roaming: true,
  ipv6: true,
  exitNode: true,
  lanRoutes: true,
  udpTransport: true,
  handshakeStats: true,
  maxPeers: 128,
  allowedIpsUpdate: true,
  processPerPeer: true,
  // `--ping n` (openvpn(8)): an encrypted ping datagram to the peer over the underlay whenever
  // nothing was sent for n seconds. A peer's persistentKeepalive becomes its `--ping`; without it
  // the instance pings every `pingIntervalS` (default 5 s), which `--ping-restart` liveness needs.
  persistentKeepalive: true,
});

/** TLS role of this node in the pair: the node whose id sorts first (byte order) is the server. */
export function tlsRole(selfId: string, peerId: string): 'tls-server' | 'tls-client' {
  return Buffer.compare(Buffer.from(selfId), Buffer.from(peerId)) < 0 ? 'tls-server' : 'tls-client';
}

/**
 * Port offset of a node: the sum of the base-`span` digits of its overlay IPv4 address, modulo
 * `span` (`span` is a power of two). Within any aligned block of `span` addresses (a /22 for the
 * default 1024) the higher digits are equal, so offsets are unique; across blocks the higher
 * digits shift them, which avoids the obvious collisions of a plain modulo (100.64.0.2 vs
 * 100.65.0.2). Collisions that remain are rejected by applyPeers with INVALID_INPUT.
 */
export function portOffset(overlayV4: bigint, span: number): number {
  const bits = BigInt(Math.log2(span));
  const mask = BigInt(span - 1);
  let sum = 0n;
  for (let v = overlayV4; v > 0n; v >>= bits) sum += v & mask;
  return Number(sum & mask);
}

/** Allowed values of the `portSpan` option. */
export const PORT_SPANS = [128, 256, 512, 1024, 2048, 4096, 8192, 16384] as const;

/** UDP port that this node's instance for `peer` binds: own base + offset(peer). */
export function localPort(selfBase: number, peerOverlayV4: bigint, span: number): number {
  return selfBase + portOffset(peerOverlayV4, span);
}

/** UDP port this node sends to for `peer`: the peer's base (its netmap endpoint port) + offset(self). */
export function remotePort(peerBase: number, selfOverlayV4: bigint, span: number): number {
  return peerBase + portOffset(selfOverlayV4, span);
}

/**
 * True when `host` is a loopback address (127.0.0.0/8, `::1`, `::ffff:127.x.y.z`). Such an
 * endpoint is a local proxy that stands for exactly one peer (the relay client binds one
 * loopback socket per relayed peer), never another node: its port is used as given, while a
 * netmap endpoint's port is the peer's base port to which the per-pair offset is added.
 */
export function isProxyEndpoint(host: string): boolean {
  const parsed = parseIp(host);
  if (!parsed) return false;
  const ip = unmapIPv4(parsed);
  if (ip.family === 4) return ip.value >> 24n === 127n;
  return ip.value === 1n;
}

/**
 * The UDP port this node's instance sends to for `endpoint`: the endpoint's port itself for a
 * local proxy ({@link isProxyEndpoint}), else {@link remotePort} (peer base + offset(self)).
 */
export function sendPort(endpoint: Endpoint, selfOverlayV4: bigint, span: number): number {
  return isProxyEndpoint(endpoint.host) ? endpoint.port : remotePort(endpoint.port, selfOverlayV4, span);
}

/** Separator between the interface prefix and the peer index in device names. */
export const DEVICE_SEPARATOR = 'p';
/** Longest interface prefix: 15 (IFNAMSIZ - 1) - separator - 3 index digits. */
export const MAX_PREFIX_LENGTH = 15 - DEVICE_SEPARATOR.length - String(CAPABILITIES.maxPeers - 1).length;

/** Name of the tun device for the peer with the given index, e.g. `rn0p7`. */
export function deviceName(prefix: string, index: number): string {
  return `${prefix}${DEVICE_SEPARATOR}${index}`;
}

/** Default fwmark of the instances' UDP packets (`--mark`) and routing table of exit routes ("OV"). */
export const DEFAULT_EXIT_TABLE = 0x4f56;

/** The base port used when the host passes `listenPort: 0`. */
export const DEFAULT_BASE_PORT = 11194;
/** Default number of ports above the base reserved for per-peer instances. */
export const DEFAULT_PORT_SPAN = 1024;
