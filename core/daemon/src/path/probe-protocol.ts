import { sign as cryptoSign, verify as cryptoVerify, type KeyObject } from 'node:crypto';
import { NODE_ID_PATTERN, type NodeId } from '@rustynet/plugin-api';

/**
 * Wire format of the direct-path probe (PING/PONG), version 1. Documented in
 * docs/path-controller.md. Integers are big-endian (network order).
 *
 * ```
 * offset      size  field
 * 0           4     magic "RNPP" (0x52 0x4E 0x50 0x50)
 * 4           1     version = 0x01
 * 5           1     type: 0x01 PING, 0x02 PONG (direct path); 0x03 PING, 0x04 PONG (through the relay)
 * 6           1     s = length of the sender id (1..63)
 * 7           s     sender node id (ASCII DNS label)
 * 7+s         1     r = length of the receiver id (1..63)
 * 8+s         r     receiver node id
 * 8+s+r       16    nonce (random in a PING, echoed in its PONG)
 * 24+s+r      8     timestamp, ms since the Unix epoch (u64), the sender's clock
 * 32+s+r      64    Ed25519 signature (RFC 8032) by the sender's identity key over
 *                   PROBE_SIGNING_CONTEXT ‖ bytes [0, 32+s+r)
 * total       96+s+r  (98..222)
 * ```
 *
 * A PONG carries the same two ids (swapped), so it is exactly as long as the PING it answers:
 * the responder never sends more than it received (no amplification).
 */
export const PROBE_MAGIC = Buffer.from('RNPP', 'ascii');
/** Protocol version carried in byte 4. */
export const PROBE_VERSION = 1;
/** Message types (byte 5). */
export const PROBE_TYPE = { PING: 1, PONG: 2, RELAY_PING: 3, RELAY_PONG: 4 } as const;
/** Bytes of the nonce. */
export const PROBE_NONCE_BYTES = 16;
/** Bytes of the Ed25519 signature. */
export const PROBE_SIGNATURE_BYTES = 64;
/** Fixed bytes of a message (everything but the two ids). */
export const PROBE_FIXED_BYTES = 4 + 1 + 1 + 1 + 1 + PROBE_NONCE_BYTES + 8 + PROBE_SIGNATURE_BYTES;
/** Smallest and largest valid message, in bytes. */
export const PROBE_MIN_BYTES = PROBE_FIXED_BYTES + 2;
export const PROBE_MAX_BYTES = PROBE_FIXED_BYTES + 2 * 63;
/**
 * Domain-separation prefix of the signed bytes, so a probe signature can never be mistaken for
 * a signature the identity key makes for another purpose (relay registration, ...).
 */
export const PROBE_SIGNING_CONTEXT = Buffer.from('rustynet-path-probe-v1\0', 'ascii');

const NODE_ID = new RegExp(NODE_ID_PATTERN);

/** Kind of a probe message. */
export type ProbeType = 'ping' | 'pong';
/**
 * Which path a probe measures: `direct` (UDP to the peer's probe port) or `relay` (through the
 * relay server to the peer's relay client). The channel is part of the signed type byte, so a
 * probe of one path can never be replayed as a probe of the other.
 */
export type ProbeChannel = 'direct' | 'relay';

/** A decoded probe message (signature not yet checked). */
export interface ProbeMessage {
  type: ProbeType;
  channel: ProbeChannel;
  sender: NodeId;
  receiver: NodeId;
  /** 16 bytes. */
  nonce: Buffer;
  /** Sender's clock, ms since the epoch. */
  timestamp: number;
  signature: Buffer;
  /** The bytes the signature covers, without {@link PROBE_SIGNING_CONTEXT}. */
  signed: Buffer;
}

/** Fields of a message to encode. */
export interface ProbeFields {
  type: ProbeType;
  /** Default `direct`. */
  channel?: ProbeChannel;
  sender: NodeId;
  receiver: NodeId;
  nonce: Uint8Array;
  timestamp: number;
}

/** Why {@link decodeProbe} refused a datagram. */
export type ProbeDecodeError = 'short' | 'long' | 'magic' | 'version' | 'type' | 'layout' | 'node_id';

function idBytes(id: NodeId, field: string): Buffer {
  if (!NODE_ID.test(id)) throw new RangeError(`${field} must be a node id (DNS label): ${JSON.stringify(id)}`);
  return Buffer.from(id, 'ascii');
}

/**
 * The unsigned part of a message (bytes 0 .. 32+s+r).
 * @throws RangeError on a bad id, nonce length or timestamp (a caller bug, never wire input).
 */
export function encodeProbeBody(f: ProbeFields): Buffer {
  const s = idBytes(f.sender, 'sender');
  const r = idBytes(f.receiver, 'receiver');
  if (f.nonce.length !== PROBE_NONCE_BYTES) throw new RangeError(`nonce must be ${PROBE_NONCE_BYTES} bytes`);
  if (!Number.isSafeInteger(f.timestamp) || f.timestamp < 0) throw new RangeError('timestamp must be a non-negative safe integer');
  const body = Buffer.alloc(PROBE_FIXED_BYTES - PROBE_SIGNATURE_BYTES + s.length + r.length);
  let o = 0;
  o += PROBE_MAGIC.copy(body, o);
  body[o++] = PROBE_VERSION;
  body[o++] =
    f.channel === 'relay'
      ? f.type === 'ping'
        ? PROBE_TYPE.RELAY_PING
        : PROBE_TYPE.RELAY_PONG
      : f.type === 'ping'
        ? PROBE_TYPE.PING
        : PROBE_TYPE.PONG;
  body[o++] = s.length;
  o += s.copy(body, o);
  body[o++] = r.length;
  o += r.copy(body, o);
  o += Buffer.from(f.nonce).copy(body, o);
  body.writeBigUInt64BE(BigInt(f.timestamp), o);
  return body;
}

/** The exact bytes an Ed25519 probe signature covers. */
export function probeSigningBytes(body: Uint8Array): Buffer {
  return Buffer.concat([PROBE_SIGNING_CONTEXT, body]);
}

/**
 * Encodes and signs a message. `sign` returns the 64-byte Ed25519 signature of its input (the
 * daemon's key store; the private key never reaches this module).
 * @throws RangeError on bad fields or a signature that is not 64 bytes.
 */
export function encodeProbe(f: ProbeFields, sign: (data: Uint8Array) => Uint8Array): Buffer {
  const body = encodeProbeBody(f);
  const sig = sign(probeSigningBytes(body));
  if (sig.length !== PROBE_SIGNATURE_BYTES) throw new RangeError('signature must be 64 bytes');
  return Buffer.concat([body, sig]);
}

/**
 * Parses a datagram without any cryptography: length bounds, magic, version, type, id lengths
 * and charset, exact total length. Cheap: meant to drop junk before anything else runs.
 * @returns the message, or the reason it is not one.
 */
export function decodeProbe(data: Uint8Array): ProbeMessage | ProbeDecodeError {
  if (data.length < PROBE_MIN_BYTES) return 'short';
  if (data.length > PROBE_MAX_BYTES) return 'long';
  const buf = Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.length);
  if (buf.compare(PROBE_MAGIC, 0, 4, 0, 4) !== 0) return 'magic';
  if (buf[4] !== PROBE_VERSION) return 'version';
  const t = buf[5];
  if (t < PROBE_TYPE.PING || t > PROBE_TYPE.RELAY_PONG) return 'type';
  const s = buf[6];
  if (s < 1 || s > 63 || 7 + s >= buf.length) return 'layout';
  const r = buf[7 + s];
  if (r < 1 || r > 63 || buf.length !== PROBE_FIXED_BYTES + s + r) return 'layout';
  const sender = buf.toString('latin1', 7, 7 + s);
  const receiver = buf.toString('latin1', 8 + s, 8 + s + r);
  if (!NODE_ID.test(sender) || !NODE_ID.test(receiver)) return 'node_id';
  const n = 8 + s + r;
  const ts = buf.readBigUInt64BE(n + PROBE_NONCE_BYTES);
  if (ts > BigInt(Number.MAX_SAFE_INTEGER)) return 'layout';
  const end = n + PROBE_NONCE_BYTES + 8;
  return {
    type: t === PROBE_TYPE.PING || t === PROBE_TYPE.RELAY_PING ? 'ping' : 'pong',
    channel: t >= PROBE_TYPE.RELAY_PING ? 'relay' : 'direct',
    sender,
    receiver,
    nonce: Buffer.from(buf.subarray(n, n + PROBE_NONCE_BYTES)),
    timestamp: Number(ts),
    signature: Buffer.from(buf.subarray(end, end + PROBE_SIGNATURE_BYTES)),
    signed: Buffer.from(buf.subarray(0, end)),
  };
}

/** True when `msg`'s signature verifies against the sender's Ed25519 public key. Never throws. */
export function verifyProbe(msg: ProbeMessage, senderKey: KeyObject): boolean {
  try {
    return cryptoVerify(null, probeSigningBytes(msg.signed), senderKey, msg.signature);
  } catch {
    return false;
  }
}

/** A `sign` function for {@link encodeProbe} from a private key object (tests, tools). */
export function probeSigner(privateKey: KeyObject): (data: Uint8Array) => Uint8Array {
  return (data) => new Uint8Array(cryptoSign(null, data, privateKey));
}
