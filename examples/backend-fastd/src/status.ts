/**
 * fastd's status socket (fastd(1) `--status-socket`, config `status socket`): a unix socket that
 * answers every connection with one JSON document and closes it. Only the fields this plugin
 * reads are typed; fastd writes no key material there (peers appear under their public key).
 */
import { createConnection } from 'node:net';

/** Byte and packet counts of one direction. */
export interface FastdCounts {
  packets: number;
  bytes: number;
}

/** One peer in fastd's status, keyed by its public key. */
export interface FastdPeerStatus {
  name: string | null;
  address: string | null;
  interface?: string | null;
  /** Present while a session is established. */
  connection: {
    /** Milliseconds since the connection was established. */
    established: number;
    /** The data-channel method of the session, e.g. `aes128-gcm`. */
    method: string;
    statistics?: { rx?: FastdCounts; tx?: FastdCounts };
  } | null;
}

/** fastd's status document. */
export interface FastdStatus {
  /** Milliseconds since fastd started. */
  uptime: number;
  peers: Record<string, FastdPeerStatus>;
}

/** Largest status document read (fastd's is about 600 bytes per peer). */
const MAX_BYTES = 4 * 1024 * 1024;

/**
 * Reads one status document.
 * @throws Error when the socket is absent, refuses, stays silent for `timeoutMs`, or sends no JSON.
 */
export function readStatus(path: string, timeoutMs = 2000): Promise<FastdStatus> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const sock = createConnection(path);
    sock.setTimeout(timeoutMs, () => sock.destroy(new Error(`fastd status socket ${path} timed out`)));
    sock.on('data', (b: Buffer) => {
      size += b.length;
      if (size > MAX_BYTES) sock.destroy(new Error('fastd status document too large'));
      else chunks.push(b);
    });
    sock.on('error', reject);
    sock.on('end', () => {
      try {
        resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')) as FastdStatus);
      } catch (err) {
        reject(err instanceof Error ? err : new Error(String(err)));
      }
    });
  });
}
