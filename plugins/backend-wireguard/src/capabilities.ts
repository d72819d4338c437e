import type { BackendCapabilities } from '@rustynet/plugin-api';

/** The protocol id under which nodes carry their WireGuard public key in the netmap (`keys.wireguard`). */
export const PROTOCOL = 'wireguard';

/**
 * Pattern of a WireGuard public key: standard base64 (RFC 4648 section 4) of exactly 32 bytes,
 * i.e. 43 significant characters and one `=`; the last significant character carries 2 zero
 * padding bits, so only `AEIMQUYcgkosw048` may stand there. Same as the manifest's
 * `backend.peerKeySchema.pattern`.
 */
export const WG_KEY_PATTERN = /^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$/;

/**
 * What this backend can do. Must equal `capabilities` in `rustynet-plugin.json` (a unit test checks).
 * `maxPeers` is WireGuard's practical limit per device as documented in docs/backends/wireguard.md.
 */
export const CAPABILITIES: Readonly<BackendCapabilities> = Object.freeze({
  roaming: true,
  ipv6: true,
  exitNode: true,
  lanRoutes: true,
  udpTransport: true,
  handshakeStats: true,
  maxPeers: 65535,
  allowedIpsUpdate: true,
  // `wg set … persistent-keepalive <n|off>`: a keepalive to the endpoint after n idle seconds (wg(8))
  persistentKeepalive: true,
  // one device, cryptokey routing: a packet routed into it goes to the peer whose allowed IPs
  // contain its destination (wg(8)), whatever peer the daemon's route names
  routesByAllowedIps: true,
});
