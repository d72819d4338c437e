/** The relay client's UDP sockets: opening one, and matching the address datagrams come from. */
import { createSocket, type Socket } from 'node:dgram';
import { RustynetError, type Logger } from '@rustynet/plugin-api';

/** True when two address texts name the same host (an IPv4-mapped IPv6 address equals its IPv4 address). */
export function sameHost(a: string, b: string): boolean {
  if (a === b) return true;
  const strip = (h: string): string => (h.startsWith('::ffff:') ? h.slice(7) : h);
  return strip(a) === strip(b);
}

/**
 * Opens and binds (any port) a UDP socket of `family` with `bufferSize` bytes of send and receive
 * buffer; later socket errors are logged at warn level.
 * @throws RustynetError `RELAY_FAILED` when the socket cannot be bound.
 */
export async function openRelaySocket(family: 'udp4' | 'udp6', bufferSize: number, log: Logger): Promise<Socket> {
  const sock = createSocket({ type: family, recvBufferSize: bufferSize, sendBufferSize: bufferSize });
  await new Promise<void>((resolve, reject) => {
    sock.once('error', (err) => {
      sock.close();
      reject(new RustynetError('RELAY_FAILED', `cannot open the relay socket: ${err.message}`, { cause: err }));
    });
    sock.bind({ port: 0 }, () => resolve());
  });
  sock.removeAllListeners('error');
  sock.on('error', (err) => log.warn({ err: err.message }, 'relay socket error'));
  return sock;
}
