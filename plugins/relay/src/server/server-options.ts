/** The relay server's option checks: listen endpoint, socket buffers, which relay of the netmap it is. */
import { isIP } from 'node:net';
import { invalidInput, type Endpoint, type Netmap } from '@rustynet/plugin-api';

/** Default UDP socket buffer size, bytes. */
export const DEFAULT_SOCKET_BUFFER = 4 * 1024 * 1024;

/** A listen endpoint (IP literal and port). @throws INVALID_INPUT naming `field`. */
export function checkEndpoint(e: unknown, field: string): Endpoint {
  if (typeof e !== 'object' || e === null) throw invalidInput(field, 'must be {host, port}');
  const { host, port } = e as Partial<Endpoint>;
  if (typeof host !== 'string' || isIP(host) === 0) throw invalidInput(`${field}.host`, 'must be an IPv4 or IPv6 literal');
  if (typeof port !== 'number' || !Number.isInteger(port) || port < 0 || port > 65535)
    throw invalidInput(`${field}.port`, 'must be an integer 0..65535');
  return { host, port };
}

/** A socket buffer size, bytes (default 4 MiB). @throws INVALID_INPUT naming `field`. */
export function checkBufferSize(v: unknown, field: string): number {
  if (v === undefined) return DEFAULT_SOCKET_BUFFER;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 4096 || v > 1 << 30)
    throw invalidInput(field, 'must be an integer 4096..2^30 (bytes)');
  return v;
}

/** Picks this relay's id from the netmap. @throws INVALID_INPUT `relayId`. */
export function deriveRelayId(netmap: Netmap, listen: Endpoint, wanted: string | undefined): string {
  const relays = netmap.relays ?? [];
  if (wanted !== undefined) {
    if (relays.length > 0 && !relays.some((r) => r.id === wanted)) {
      throw invalidInput('relayId', `relay "${wanted}" is not in the netmap's relays (${relays.map((r) => r.id).join(', ')})`);
    }
    return wanted;
  }
  const unspecified = listen.host === '0.0.0.0' || listen.host === '::';
  const byEndpoint = relays.filter((r) => r.endpoint.port === listen.port && (unspecified || r.endpoint.host === listen.host));
  if (byEndpoint.length === 1) return byEndpoint[0].id;
  if (relays.length === 1) return relays[0].id;
  throw invalidInput('relayId', 'cannot tell which of the netmap relays this server is: pass relayId');
}
