/**
 * Node request authentication, shared by the server and {@link ControlClient}: a node signs
 * `rustynet-control-request-v1\n<METHOD>\n<path?query>\n<timestamp ms>\n<nonce>\n<sha256 hex of body>`
 * with its Ed25519 identity key (node:crypto; RFC 8032) and sends it in headers. The server
 * checks the signature against the enrolled identity key, a freshness window on the timestamp,
 * and that the nonce was not seen within the window (replay).
 */
import { createHash, randomBytes, sign, verify, type KeyObject } from 'node:crypto';
import { publicKeyFromRawB64 } from '@rustynet/daemon';

/** Header carrying the node's identity public key (raw 32 bytes, base64). */
export const HEADER_NODE = 'x-rustynet-node';
/** Header carrying the timestamp (Unix ms, decimal). */
export const HEADER_TIMESTAMP = 'x-rustynet-timestamp';
/** Header carrying the nonce (16 random bytes, base64url). */
export const HEADER_NONCE = 'x-rustynet-nonce';
/** Header carrying the Ed25519 signature (base64). */
export const HEADER_SIGNATURE = 'x-rustynet-signature';
/** Domain separation string of request signatures. */
export const REQUEST_SIGNING_CONTEXT = 'rustynet-control-request-v1';
/** How far a request timestamp may be from the server's clock (ms). */
export const REQUEST_FRESHNESS_MS = 60_000;

/** What a request signature covers. */
export interface RequestSigningInput {
  method: string;
  /** Path with query string, as sent (e.g. `/v1/netmap?after=3`). */
  path: string;
  timestamp: number;
  nonce: string;
  body: Buffer | string;
}

/** The bytes a request signature covers. */
export function requestSigningBytes(r: RequestSigningInput): Buffer {
  const bodyHash = createHash('sha256').update(r.body).digest('hex');
  return Buffer.from(`${REQUEST_SIGNING_CONTEXT}\n${r.method.toUpperCase()}\n${r.path}\n${r.timestamp}\n${r.nonce}\n${bodyHash}`, 'utf8');
}

/** The four authentication headers for a request, signed with `privateKey` (Ed25519). */
export function signRequest(
  privateKey: KeyObject,
  identityKey: string,
  method: string,
  path: string,
  body: Buffer | string,
  now = Date.now(),
): Record<string, string> {
  const nonce = randomBytes(16).toString('base64url');
  const sig = sign(null, requestSigningBytes({ method, path, timestamp: now, nonce, body }), privateKey).toString('base64');
  return { [HEADER_NODE]: identityKey, [HEADER_TIMESTAMP]: String(now), [HEADER_NONCE]: nonce, [HEADER_SIGNATURE]: sig };
}

/** True when `signatureB64` is a valid Ed25519 signature of `data` by raw public key `identityKey`. */
export function verifyEd25519(identityKey: string, data: Buffer, signatureB64: string): boolean {
  try {
    const sig = Buffer.from(signatureB64, 'base64');
    if (sig.length !== 64) return false;
    return verify(null, data, publicKeyFromRawB64(identityKey), sig);
  } catch {
    return false;
  }
}
