/**
 * An underlay transport address: where a peer's backend can be reached.
 *
 * `host` is an IPv4 or IPv6 literal (no brackets, no hostnames: the daemon never resolves
 * names on the data path); `port` is a UDP/TCP port, 1..65535.
 */
export interface Endpoint {
  /** IPv4 or IPv6 address (no brackets, no host names). */
  host: string;
  /** UDP port, 1 to 65535. */
  port: number;
}

/** Formats an endpoint as `host:port`, bracketing IPv6 hosts (`[fd00::1]:51820`). */
export function formatEndpoint(e: Endpoint): string {
  return e.host.includes(':') ? `[${e.host}]:${e.port}` : `${e.host}:${e.port}`;
}
