/** Helpers shared by several areas of the suite. */
import { randomBytes } from 'node:crypto';
import type { Endpoint } from '@rustynet/plugin-api';
import type { ReceivedLog } from '../agent-client.js';
import { BACKEND_PORT, type RelayFixture } from '../fixture.js';

/** Resolves after `ms` milliseconds. */
export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
/** Skip reason of the tests that need the package's relay server (undefined when it has one). */
export const needServer = (fx: RelayFixture): string | undefined => fx.noServerReason;
/** Where the stand-in backend listens in every client host. */
export const LOOPBACK_BACKEND: Endpoint = { host: '127.0.0.1', port: BACKEND_PORT };

/** Signatures of the package's optional `protocol` encoders (see {@link RelayFixture.protocolFn}). */
export type EncodeData = (nodeId: string, payload: Uint8Array) => Buffer;
/** Encodes a HELLO of `size` bytes. */
export type EncodeHello = (size?: number) => Buffer;
/** Encodes a KEEPALIVE (or its ack). */
export type EncodeKeepalive = (seq: number, ack?: boolean) => Buffer;
/** Encodes a REGISTER with a signature. */
export type EncodeRegister = (body: Uint8Array, nodeId: string, sig: Uint8Array) => Buffer;

/** A unique marker payload, to find a datagram in logs and captures. */
export function marker(tag: string): Buffer {
  return Buffer.from(`rn-relay-kit-${tag}-${randomBytes(6).toString('hex')}`);
}

/** Whether a stand-in backend received a datagram containing `needle`. */
export function contains(log: ReceivedLog, needle: Buffer): boolean {
  return log.received.some((r) => r.data !== undefined && Buffer.from(r.data, 'base64').includes(needle));
}

/** Polls `read` until `done(value)` or `timeoutMs` passed; returns the last value read. */
export async function waitFor<V>(read: () => Promise<V>, done: (v: V) => boolean, timeoutMs: number, pollMs = 100): Promise<V> {
  const end = Date.now() + timeoutMs;
  let v = await read();
  while (!done(v) && Date.now() < end) {
    await sleep(pollMs);
    v = await read();
  }
  return v;
}
