/** The per-peer loopback endpoints of the relay client: what the backend sends there goes to the relay. */
import { createSocket, type Socket } from 'node:dgram';
import { isIP } from 'node:net';
import { RustynetError, invalidInput, type Endpoint, type Logger, type NodeId } from '@rustynet/plugin-api';
import { MAX_DATA_PAYLOAD, encodeDataHeader } from '../protocol.js';
import type { DropCounters } from './drops.js';
import type { RelayClientOptions } from './options.js';
import type { Session } from './relay-link.js';
import { sameHost } from './relay-socket.js';

/** One relayed peer's loopback endpoint. */
export interface Path {
  peer: NodeId;
  socket: Socket;
  local: Endpoint;
  backend: Endpoint;
  /** DATA header naming the peer as destination. */
  header: Buffer;
  rxPackets: number;
  txPackets: number;
}

/** What a path needs to forward the backend's datagrams. */
export interface PathDeps {
  opts: RelayClientOptions;
  log: Logger;
  drops: DropCounters;
  /** The relay session to send to `peer` through (relay-monitor.ts `route`), if registered. */
  session(peer: NodeId): Session | undefined;
  /** A second session to send this datagram through as well (relay-monitor.ts `alsoHome`), if any. */
  alsoHome(peer: NodeId, routed: Session): Session | undefined;
  readonly sendDone: (err: Error | null) => void;
}

/**
 * Checks an endpoint.
 * @throws RustynetError `INVALID_INPUT` (`<field>.host`, `<field>.port`).
 */
export function checkEndpoint(e: unknown, field: string): Endpoint {
  if (typeof e !== 'object' || e === null) throw invalidInput(field, 'must be {host, port}');
  const { host, port } = e as Partial<Endpoint>;
  if (typeof host !== 'string' || isIP(host) === 0) throw invalidInput(`${field}.host`, 'must be an IPv4 or IPv6 literal');
  if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535)
    throw invalidInput(`${field}.port`, 'must be an integer 1..65535');
  return { host, port };
}

/**
 * Binds a loopback socket (of the backend's family) for `peer`; datagrams from the backend on it
 * go to the relay as DATA for `peer`, anything else is dropped and counted.
 * @throws RustynetError `RELAY_FAILED` when no socket can be bound.
 */
export async function bindPath(peer: NodeId, backend: Endpoint, deps: PathDeps): Promise<Path> {
  const v6 = isIP(backend.host) === 6;
  const size = deps.opts.pathSocketBufferSize;
  const sock = createSocket({ type: v6 ? 'udp6' : 'udp4', recvBufferSize: size, sendBufferSize: size });
  await new Promise<void>((resolve, reject) => {
    sock.once('error', (err) => {
      sock.close();
      reject(new RustynetError('RELAY_FAILED', `cannot bind a local relay endpoint: ${err.message}`, { cause: err }));
    });
    sock.bind({ address: v6 ? '::1' : '127.0.0.1', port: 0, exclusive: true }, () => resolve());
  });
  sock.removeAllListeners('error');
  sock.on('error', (err) => deps.log.warn({ peer, err: err.message }, 'relay path socket error'));
  const a = sock.address();
  const path: Path = {
    peer,
    socket: sock,
    local: { host: a.address, port: a.port },
    backend,
    header: encodeDataHeader(peer),
    rxPackets: 0,
    txPackets: 0,
  };
  sock.on('message', (msg, rinfo) => {
    // Only the backend may use this endpoint.
    if (rinfo.port !== path.backend.port || !sameHost(rinfo.address, path.backend.host)) return deps.drops.drop('foreign_source');
    const s = deps.session(peer);
    if (s === undefined) return deps.drops.drop('no_session');
    if (msg.length > MAX_DATA_PAYLOAD) return deps.drops.drop('oversize');
    path.txPackets++;
    s.socket.send([path.header, msg], s.relay.endpoint.port, s.relay.endpoint.host, deps.sendDone);
    const h = deps.alsoHome(peer, s);
    if (h !== undefined) h.socket.send([path.header, msg], h.relay.endpoint.port, h.relay.endpoint.host, deps.sendDone);
  });
  return path;
}

/** Closes a path's socket. */
export function closePathSocket(p: Path): Promise<void> {
  return new Promise<void>((resolve) => p.socket.close(() => resolve()));
}
