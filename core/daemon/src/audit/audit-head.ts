import { readFile } from 'node:fs/promises';
import { verify as cryptoVerify } from 'node:crypto';
import { publicKeyFromRawB64 } from '../services/key-store.js';
import { atomicWriteFile } from '../services/state-store.js';
import { canonicalJson } from '../util/json.js';

/**
 * The audit log's signed head: the latest checkpoint (sequence number and hash of the newest
 * record) signed with the node's Ed25519 identity key. It lives in its own file beside the log
 * (`audit.head`), replaced atomically (write to a temporary file, fsync, rename) after every
 * append, so that truncating the log, or rewriting it from some record onwards, no longer matches
 * a signature the attacker cannot forge without the identity key.
 */
export interface AuditHead {
  /** Format version, 1. */
  v: 1;
  /** The node id. */
  node: string;
  /** `seq` of the newest record covered. */
  seq: number;
  /** `hash` of that record (SHA-256 hex). */
  hash: string;
  /** ISO time the head was signed. */
  at: string;
  /** The signer's raw 32-byte Ed25519 public key, base64 (the netmap's `identityKey`). */
  publicKey: string;
  /** Ed25519 signature (RFC 8032), base64, over {@link auditHeadSigningBytes}. */
  signature: string;
}

/** Domain-separation prefix of the signed bytes (the identity key also signs probes and relay registrations). */
export const AUDIT_HEAD_SIGNING_CONTEXT = 'rustynet-audit-head-v1\0';

/** Signs with the node's identity key; the private key never reaches the audit code. */
export interface AuditSigner {
  /** Raw 32-byte Ed25519 public key, base64. */
  publicKey(): string;
  /** 64-byte Ed25519 signature of `data`. */
  sign(data: Uint8Array): Uint8Array;
}

/** The exact bytes a head signature covers: the context ‖ RFC 8785 JSON of every field but `signature`. */
export function auditHeadSigningBytes(h: Omit<AuditHead, 'signature'>): Buffer {
  const body = canonicalJson({ v: h.v, node: h.node, seq: h.seq, hash: h.hash, at: h.at, publicKey: h.publicKey });
  return Buffer.concat([Buffer.from(AUDIT_HEAD_SIGNING_CONTEXT, 'ascii'), Buffer.from(body, 'utf8')]);
}

/** Builds and signs a head. */
export function signAuditHead(fields: { node: string; seq: number; hash: string; at: string }, signer: AuditSigner): AuditHead {
  const unsigned = { v: 1 as const, ...fields, publicKey: signer.publicKey() };
  const signature = Buffer.from(signer.sign(auditHeadSigningBytes(unsigned))).toString('base64');
  return { ...unsigned, signature };
}

/** Writes the head atomically (mode 0600). @throws RustynetError `STATE_WRITE_FAILED`. */
export async function writeAuditHead(path: string, head: AuditHead): Promise<void> {
  await atomicWriteFile(path, `${JSON.stringify(head)}\n`);
}

/**
 * Reads a head file.
 * @returns the head, `undefined` when the file does not exist, or a string saying why it is not a head.
 */
export async function readAuditHead(path: string): Promise<AuditHead | undefined | string> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    return `cannot read ${path}: ${(err as Error).message}`;
  }
  let h: unknown;
  try {
    h = JSON.parse(text);
  } catch {
    return 'the head file is not JSON';
  }
  const o = (h ?? {}) as Record<string, unknown>;
  const ok =
    o['v'] === 1 &&
    typeof o['node'] === 'string' &&
    Number.isSafeInteger(o['seq']) &&
    (o['seq'] as number) >= 0 &&
    typeof o['hash'] === 'string' &&
    typeof o['at'] === 'string' &&
    typeof o['publicKey'] === 'string' &&
    typeof o['signature'] === 'string';
  return ok ? (o as unknown as AuditHead) : 'the head file lacks a field (v, node, seq, hash, at, publicKey, signature)';
}

/**
 * Checks a head's signature, and that it was made by `expectedKey` when given.
 * @returns undefined when valid, else the reason.
 */
export function checkAuditHeadSignature(head: AuditHead, expectedKey?: string): string | undefined {
  if (expectedKey !== undefined && head.publicKey !== expectedKey) {
    return `the head is signed by ${head.publicKey}, not by this node's identity key ${expectedKey}`;
  }
  try {
    const key = publicKeyFromRawB64(head.publicKey);
    const ok = cryptoVerify(null, auditHeadSigningBytes(head), key, Buffer.from(head.signature, 'base64'));
    return ok ? undefined : 'the head signature does not verify';
  } catch {
    return 'the head carries no valid Ed25519 public key';
  }
}
