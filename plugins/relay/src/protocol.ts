/**
 * The Rustynet relay wire protocol, version 1. See `docs/relay.md` for the message table.
 *
 * Every datagram starts with a two-byte header: `version` (u8, {@link PROTOCOL_VERSION}) and
 * `type` (u8, {@link MessageType}). Multi-byte integers are big-endian (network order). A node id
 * on the wire is a one-byte length followed by that many ASCII bytes (a DNS label, 1..63).
 *
 * Decoders never throw: they return `undefined` for anything malformed, so a junk datagram costs
 * a few comparisons.
 */
import { MAX_RELAY_PROBE_BYTES, NODE_ID_PATTERN } from '@rustynet/plugin-api';

/** Protocol version carried in byte 0 of every datagram. */
export const PROTOCOL_VERSION = 1;

/** Message types (byte 1 of every datagram). */
export const MessageType = {
  /** client -> server: asks for a challenge; padded to at least {@link HELLO_MIN_SIZE} bytes. */
  HELLO: 0x01,
  /** server -> client: nonce + return-routability token. */
  CHALLENGE: 0x02,
  /** client -> server: echoes the challenge, names the node, proves possession of its key. */
  REGISTER: 0x03,
  /** server -> client: the session is registered. */
  REGISTERED: 0x04,
  /** server -> client: a request was refused; carries a {@link RejectReason}. */
  REJECT: 0x05,
  /** both ways: an opaque datagram for (client -> server) or from (server -> client) a node. */
  DATA: 0x06,
  /** client -> server: keeps the session (and NAT bindings) alive. */
  KEEPALIVE: 0x07,
  /** server -> client: answer to a KEEPALIVE of a registered session. */
  KEEPALIVE_ACK: 0x08,
  /**
   * both ways: like DATA, but for the nodes' daemons (path probes), not their backends; the
   * payload is at most {@link MAX_PROBE_PAYLOAD} bytes.
   */
  PROBE: 0x09,
} as const;
export type MessageTypeName = keyof typeof MessageType;

/** Reason codes carried by REJECT. */
export const RejectReason = {
  /** The node id is not in the server's netmap / allowlist. */
  UNKNOWN_NODE: 1,
  /** The Ed25519 signature did not verify against the node's identity key. */
  BAD_SIGNATURE: 2,
  /** The node already holds the maximum number of sessions. */
  SESSION_LIMIT: 3,
  /** The datagram came from an address without a registered session: register again. */
  NOT_REGISTERED: 4,
  /** Too many registrations per second: retry later. */
  BUSY: 5,
} as const;
export type RejectReasonName = keyof typeof RejectReason;

/** Header length: version + type. */
export const HEADER_SIZE = 2;
/** Length of the server nonce in a CHALLENGE. */
export const NONCE_SIZE = 32;
/** Length of the HMAC-SHA256 in a return-routability token. */
export const MAC_SIZE = 32;
/** Return-routability token: time bucket (u32) + HMAC-SHA256. */
export const TOKEN_SIZE = 4 + MAC_SIZE;
/** The challenge body: nonce + token. */
export const CHALLENGE_BODY_SIZE = NONCE_SIZE + TOKEN_SIZE;
/** Total size of a CHALLENGE datagram (70 bytes). */
export const CHALLENGE_SIZE = HEADER_SIZE + CHALLENGE_BODY_SIZE;
/**
 * Smallest accepted HELLO, in bytes. Larger than {@link CHALLENGE_SIZE}, so answering a HELLO
 * never sends more bytes than were received (anti-amplification, as QUIC's RFC 9000 section 8.1).
 */
export const HELLO_MIN_SIZE = 96;
/** Ed25519 signature length (RFC 8032). */
export const SIGNATURE_SIZE = 64;
/** REGISTERED: header + session timeout (u32 ms) + keepalive interval (u32 ms). */
export const REGISTERED_SIZE = HEADER_SIZE + 8;
/** REJECT: header + reason (u8). */
export const REJECT_SIZE = HEADER_SIZE + 1;
/** KEEPALIVE and KEEPALIVE_ACK: header + sequence number (u32). */
export const KEEPALIVE_SIZE = HEADER_SIZE + 4;
/** Longest node id (a DNS label). */
export const MAX_NODE_ID_LENGTH = 63;
/** Largest UDP payload over IPv4 (65535 - 20 - 8). */
export const MAX_UDP_PAYLOAD = 65507;
/** Largest DATA payload the relay carries: leaves room for the header and the longest node id. */
export const MAX_DATA_PAYLOAD = MAX_UDP_PAYLOAD - HEADER_SIZE - 1 - MAX_NODE_ID_LENGTH;

/** Largest PROBE payload the relay carries (a path probe is 98..222 bytes). */
export const MAX_PROBE_PAYLOAD = MAX_RELAY_PROBE_BYTES;

/** Domain-separation prefix of the REGISTER signature input. */
export const REGISTER_SIGNATURE_CONTEXT = 'rustynet-relay-register-v1\0';
/** Domain-separation prefix of the return-routability HMAC input. */
export const TOKEN_MAC_CONTEXT = 'rustynet-relay-token-v1\0';

const nodeIdRegex = new RegExp(NODE_ID_PATTERN);

/** True when `id` is a valid node id (DNS label, 1..63 bytes). */
export function isNodeId(id: unknown): id is string {
  return typeof id === 'string' && id.length <= MAX_NODE_ID_LENGTH && nodeIdRegex.test(id);
}

/** A decoded CHALLENGE (also the echoed part of a REGISTER). */
export interface Challenge {
  /** 32 random bytes. */
  nonce: Buffer;
  /** Time bucket the token was minted in. */
  bucket: number;
  /** HMAC-SHA256 over (context, bucket, nonce, client address, client port). */
  mac: Buffer;
  /** nonce || bucket || mac, exactly as on the wire (68 bytes): the signed "server challenge". */
  body: Buffer;
}

/** A decoded REGISTER. */
export interface RegisterMessage extends Challenge {
  nodeId: string;
  signature: Buffer;
}

/** True when `buf` carries a version-1 header; the cheap first check on every datagram. */
export function hasValidHeader(buf: Uint8Array): boolean {
  return buf.length >= HEADER_SIZE && buf[0] === PROTOCOL_VERSION;
}

/** Builds a HELLO padded with zeros to `size` bytes (at least {@link HELLO_MIN_SIZE}). */
export function encodeHello(size: number = HELLO_MIN_SIZE): Buffer {
  const b = Buffer.alloc(Math.max(size, HELLO_MIN_SIZE));
  b[0] = PROTOCOL_VERSION;
  b[1] = MessageType.HELLO;
  return b;
}

/** Builds a CHALLENGE from its 68-byte body (nonce || bucket || mac). */
export function encodeChallenge(body: Uint8Array): Buffer {
  const b = Buffer.allocUnsafe(CHALLENGE_SIZE);
  b[0] = PROTOCOL_VERSION;
  b[1] = MessageType.CHALLENGE;
  b.set(body.subarray(0, CHALLENGE_BODY_SIZE), HEADER_SIZE);
  return b;
}

function decodeChallengeBody(buf: Buffer, off: number): Challenge {
  const body = Buffer.from(buf.subarray(off, off + CHALLENGE_BODY_SIZE));
  return {
    nonce: body.subarray(0, NONCE_SIZE),
    bucket: body.readUInt32BE(NONCE_SIZE),
    mac: body.subarray(NONCE_SIZE + 4, CHALLENGE_BODY_SIZE),
    body,
  };
}

/** Decodes a CHALLENGE datagram; `undefined` when malformed. */
export function decodeChallenge(buf: Buffer): Challenge | undefined {
  if (buf.length !== CHALLENGE_SIZE || !hasValidHeader(buf) || buf[1] !== MessageType.CHALLENGE) return undefined;
  return decodeChallengeBody(buf, HEADER_SIZE);
}

/** Builds a REGISTER datagram. */
export function encodeRegister(challengeBody: Uint8Array, nodeId: string, signature: Uint8Array): Buffer {
  const id = Buffer.from(nodeId, 'latin1');
  const b = Buffer.allocUnsafe(HEADER_SIZE + CHALLENGE_BODY_SIZE + 1 + id.length + SIGNATURE_SIZE);
  b[0] = PROTOCOL_VERSION;
  b[1] = MessageType.REGISTER;
  b.set(challengeBody.subarray(0, CHALLENGE_BODY_SIZE), HEADER_SIZE);
  let off = HEADER_SIZE + CHALLENGE_BODY_SIZE;
  b[off++] = id.length;
  b.set(id, off);
  off += id.length;
  b.set(signature.subarray(0, SIGNATURE_SIZE), off);
  return b;
}

/**
 * Decodes a REGISTER datagram (or, with `type`, its identity variant REGISTER_ID, same layout);
 * `undefined` when malformed (length, node id syntax).
 */
export function decodeRegister(buf: Buffer, type: number = MessageType.REGISTER): RegisterMessage | undefined {
  if (!hasValidHeader(buf) || buf[1] !== type) return undefined;
  const idOff = HEADER_SIZE + CHALLENGE_BODY_SIZE;
  if (buf.length < idOff + 1) return undefined;
  const idLen = buf[idOff];
  if (idLen < 1 || idLen > MAX_NODE_ID_LENGTH) return undefined;
  if (buf.length !== idOff + 1 + idLen + SIGNATURE_SIZE) return undefined;
  const nodeId = buf.toString('latin1', idOff + 1, idOff + 1 + idLen);
  if (!isNodeId(nodeId)) return undefined;
  const signature = Buffer.from(buf.subarray(idOff + 1 + idLen));
  return { ...decodeChallengeBody(buf, HEADER_SIZE), nodeId, signature };
}

/**
 * The bytes a node signs with its Ed25519 identity key to register:
 * `"rustynet-relay-register-v1\0" || challenge body (68) || len(nodeId) || nodeId || len(relayId) || relayId`.
 * Binding the relay id stops a signature made for one relay from being used at another.
 */
export function registerSignatureInput(challengeBody: Uint8Array, nodeId: string, relayId: string): Buffer {
  const ctx = Buffer.from(REGISTER_SIGNATURE_CONTEXT, 'latin1');
  const id = Buffer.from(nodeId, 'utf8');
  const rid = Buffer.from(relayId, 'utf8');
  if (id.length > 255 || rid.length > 255) throw new RangeError('node id or relay id longer than 255 bytes');
  return Buffer.concat([ctx, challengeBody.subarray(0, CHALLENGE_BODY_SIZE), Buffer.of(id.length), id, Buffer.of(rid.length), rid]);
}

/** Builds REGISTERED: session timeout and recommended keepalive interval, both in ms. */
export function encodeRegistered(sessionTimeoutMs: number, keepaliveIntervalMs: number): Buffer {
  const b = Buffer.allocUnsafe(REGISTERED_SIZE);
  b[0] = PROTOCOL_VERSION;
  b[1] = MessageType.REGISTERED;
  b.writeUInt32BE(Math.min(sessionTimeoutMs, 0xffffffff) >>> 0, 2);
  b.writeUInt32BE(Math.min(keepaliveIntervalMs, 0xffffffff) >>> 0, 6);
  return b;
}

/** Decodes REGISTERED; `undefined` when malformed. */
export function decodeRegistered(buf: Buffer): { sessionTimeoutMs: number; keepaliveIntervalMs: number } | undefined {
  if (buf.length !== REGISTERED_SIZE || !hasValidHeader(buf) || buf[1] !== MessageType.REGISTERED) return undefined;
  return { sessionTimeoutMs: buf.readUInt32BE(2), keepaliveIntervalMs: buf.readUInt32BE(6) };
}

/** Builds REJECT with a reason code. */
export function encodeReject(reason: number): Buffer {
  return Buffer.of(PROTOCOL_VERSION, MessageType.REJECT, reason & 0xff);
}

/** Decodes REJECT; returns the reason code. */
export function decodeReject(buf: Buffer): number | undefined {
  if (buf.length !== REJECT_SIZE || !hasValidHeader(buf) || buf[1] !== MessageType.REJECT) return undefined;
  return buf[2];
}

/** Builds KEEPALIVE (or KEEPALIVE_ACK when `ack`) with a sequence number. */
export function encodeKeepalive(seq: number, ack = false): Buffer {
  const b = Buffer.allocUnsafe(KEEPALIVE_SIZE);
  b[0] = PROTOCOL_VERSION;
  b[1] = ack ? MessageType.KEEPALIVE_ACK : MessageType.KEEPALIVE;
  b.writeUInt32BE(seq >>> 0, 2);
  return b;
}

/** Decodes KEEPALIVE / KEEPALIVE_ACK: the sequence number, or `undefined`. */
export function decodeKeepalive(buf: Buffer, ack = false): number | undefined {
  const type = ack ? MessageType.KEEPALIVE_ACK : MessageType.KEEPALIVE;
  if (buf.length !== KEEPALIVE_SIZE || !hasValidHeader(buf) || buf[1] !== type) return undefined;
  return buf.readUInt32BE(2);
}

/**
 * The DATA header for a node id: `version, DATA, len(nodeId), nodeId` (PROBE with `type`). The payload follows it.
 * Senders keep one per peer and send `[header, payload]` as a gather list (no copy).
 */
export function encodeDataHeader(nodeId: string, type: number = MessageType.DATA): Buffer {
  const id = Buffer.from(nodeId, 'latin1');
  const b = Buffer.allocUnsafe(HEADER_SIZE + 1 + id.length);
  b[0] = PROTOCOL_VERSION;
  b[1] = type;
  b[2] = id.length;
  b.set(id, 3);
  return b;
}

/** Builds a whole DATA datagram (copies; use {@link encodeDataHeader} on hot paths). */
export function encodeData(nodeId: string, payload: Uint8Array, type: number = MessageType.DATA): Buffer {
  return Buffer.concat([encodeDataHeader(nodeId, type), payload]);
}

/**
 * Decodes DATA (or, with `type`, PROBE, which has the same layout): the node id (destination client->server, source server->client) and the offset
 * of the payload. `undefined` when malformed or the payload is empty. The id is not checked
 * against the node-id syntax here: receivers look it up in a map of known ids.
 */
export function decodeData(buf: Buffer, type: number = MessageType.DATA): { nodeId: string; payloadOffset: number } | undefined {
  if (buf.length < HEADER_SIZE + 2 || !hasValidHeader(buf) || buf[1] !== type) return undefined;
  const idLen = buf[2];
  if (idLen < 1 || idLen > MAX_NODE_ID_LENGTH) return undefined;
  const payloadOffset = 3 + idLen;
  if (buf.length <= payloadOffset) return undefined;
  return { nodeId: buf.toString('latin1', 3, payloadOffset), payloadOffset };
}
