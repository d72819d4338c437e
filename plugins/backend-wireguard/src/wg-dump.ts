/**
 * Parser of `wg show <interface> dump` (wg(8)): tab-separated lines. The first line describes
 * the interface: `private-key public-key listen-port fwmark`; each further line a peer:
 * `public-key preshared-key endpoint allowed-ips latest-handshake transfer-rx transfer-tx
 * persistent-keepalive`. `(none)` marks an absent value, `off` a disabled one, and a latest
 * handshake of 0 means none yet. The private and preshared keys are dropped while parsing and
 * never returned.
 */
import { RustynetError, type Endpoint } from '@rustynet/plugin-api';
import { parseIp } from '@rustynet/plugin-kit';

/** One peer line of the dump, without the preshared key. */
export interface DumpPeer {
  publicKey: string;
  endpoint: Endpoint | null;
  allowedIps: string[];
  /** Seconds since the epoch of the latest handshake; `null` if none. */
  latestHandshake: number | null;
  rxBytes: number;
  txBytes: number;
  /** Seconds; `null` when off. */
  persistentKeepalive: number | null;
}

/** The parsed dump, without the private key. */
export interface WgDump {
  publicKey: string | null;
  listenPort: number;
  /** `null` when off. */
  fwmark: number | null;
  peers: DumpPeer[];
}

function bad(message: string): RustynetError {
  return new RustynetError('BACKEND_FAILED', `unexpected \`wg show dump\` output: ${message}`);
}

function parseCount(text: string, what: string): number {
  if (!/^\d+$/.test(text)) throw bad(`${what} is not a number`);
  return Number(text);
}

/**
 * Parses `host:port` or `[v6host]:port` as printed by wg.
 * @returns the endpoint, or `null` for `(none)`.
 */
export function parseDumpEndpoint(text: string): Endpoint | null {
  if (text === '(none)') return null;
  let host: string;
  let portText: string;
  if (text.startsWith('[')) {
    const close = text.indexOf(']:');
    if (close === -1) throw bad(`endpoint ${text}`);
    host = text.slice(1, close);
    portText = text.slice(close + 2);
    const zone = host.indexOf('%');
    if (zone !== -1) host = host.slice(0, zone);
  } else {
    const colon = text.lastIndexOf(':');
    if (colon === -1) throw bad(`endpoint ${text}`);
    host = text.slice(0, colon);
    portText = text.slice(colon + 1);
  }
  if (!parseIp(host) || !/^\d{1,5}$/.test(portText)) throw bad(`endpoint ${text}`);
  return { host, port: Number(portText) };
}

/**
 * Parses the whole dump of one interface.
 * @throws RustynetError `BACKEND_FAILED` when the text does not have the documented shape.
 */
export function parseWgDump(text: string): WgDump {
  const lines = text.split('\n').filter((l) => l.length > 0);
  const first = lines.shift();
  if (first === undefined) throw bad('empty');
  const iface = first.split('\t');
  if (iface.length !== 4) throw bad(`interface line has ${iface.length} fields, expected 4`);
  iface[0] = ''; // the private key: dropped at once
  const dump: WgDump = {
    publicKey: iface[1] === '(none)' ? null : iface[1],
    listenPort: parseCount(iface[2], 'listen-port'),
    fwmark: iface[3] === 'off' ? null : Number(iface[3]),
    peers: [],
  };
  for (const line of lines) {
    const f = line.split('\t');
    if (f.length !== 8) throw bad(`peer line has ${f.length} fields, expected 8`);
    const handshake = parseCount(f[4], 'latest-handshake');
    dump.peers.push({
      publicKey: f[0],
      endpoint: parseDumpEndpoint(f[2]),
      allowedIps: f[3] === '(none)' ? [] : f[3].split(','),
      latestHandshake: handshake === 0 ? null : handshake,
      rxBytes: parseCount(f[5], 'transfer-rx'),
      txBytes: parseCount(f[6], 'transfer-tx'),
      persistentKeepalive: f[7] === 'off' ? null : parseCount(f[7], 'persistent-keepalive'),
    });
  }
  return dump;
}
