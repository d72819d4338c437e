/**
 * Reachability and round trip of a relay server over the underlay: a HELLO of the relay protocol
 * (docs/relay.md) answered by a CHALLENGE. The relay keeps no state for a HELLO, and the probe
 * needs no key, so `netcheck` can send it from the CLI.
 */
import { createSocket } from 'node:dgram';
import { isIPv6 } from 'node:net';
import { performance } from 'node:perf_hooks';
import { RustynetError, type Endpoint } from '@rustynet/plugin-api';

/** The parts of `@rustynet/relay`'s `protocol` namespace the probe uses. */
interface RelayProtocol {
  encodeHello(size?: number): Buffer;
  decodeChallenge(buf: Buffer): unknown;
}

const RELAY_PACKAGE = '@rustynet/relay';

/** Loads the relay wire protocol. @throws RustynetError `INTERNAL` when the package is missing. */
export async function loadRelayProtocol(): Promise<RelayProtocol> {
  try {
    const mod = (await import(RELAY_PACKAGE)) as { protocol?: Partial<RelayProtocol> };
    const p = mod.protocol;
    if (typeof p?.encodeHello !== 'function' || typeof p.decodeChallenge !== 'function') throw new Error('no protocol export');
    return p as RelayProtocol;
  } catch (cause) {
    throw new RustynetError(
      'INTERNAL',
      `cannot load ${RELAY_PACKAGE} (is it built? npx tsc -b plugins/relay): ${(cause as Error).message}`,
      {
        cause,
      },
    );
  }
}

/** Outcome of {@link probeRelay}. */
export interface RelayProbe {
  reachable: boolean;
  /** Smallest round trip of the answered HELLOs, ms (2 decimals). */
  rttMs?: number;
  /** HELLOs sent and CHALLENGEs received. */
  sent: number;
  received: number;
}

/**
 * Sends up to `tries` HELLOs to `endpoint`, one at a time, each waiting `timeoutMs` for the
 * CHALLENGE from that address; stops early after two answers.
 */
export async function probeRelay(proto: RelayProtocol, endpoint: Endpoint, tries: number, timeoutMs: number): Promise<RelayProbe> {
  const socket = createSocket(isIPv6(endpoint.host) ? 'udp6' : 'udp4');
  const rtts: number[] = [];
  let sent = 0;
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(0, () => {
        socket.off('error', reject);
        resolve();
      });
    });
    socket.on('error', () => undefined);
    for (let i = 0; i < tries && rtts.length < 2; i++) {
      const t0 = performance.now();
      const answered = new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => {
          socket.off('message', onMessage);
          resolve(false);
        }, timeoutMs);
        const onMessage = (msg: Buffer, rinfo: { address: string; port: number }): void => {
          if (rinfo.port !== endpoint.port || proto.decodeChallenge(msg) === undefined) return;
          clearTimeout(timer);
          socket.off('message', onMessage);
          resolve(true);
        };
        socket.on('message', onMessage);
      });
      sent++;
      socket.send(proto.encodeHello(), endpoint.port, endpoint.host, () => undefined);
      if (await answered) rtts.push(Math.round((performance.now() - t0) * 100) / 100);
    }
  } finally {
    socket.close();
  }
  return { reachable: rtts.length > 0, ...(rtts.length && { rttMs: Math.min(...rtts) }), sent, received: rtts.length };
}
