/**
 * Registrations made by the kit itself, on the wire, with the package's optional `protocol`
 * functions (docs/conformance.md, Relay): HELLO from a plain UDP socket in a host's namespace,
 * the CHALLENGE it gets, a REGISTER signed in the kit with a node's key, sent from that socket
 * or from another address. Used where a test needs a session whose address and token the kit
 * controls (replayed tokens, session caps, expiry), and as the peer of a client under test.
 */
import { createPrivateKey, sign } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Endpoint } from '@rustynet/plugin-api';
import type { RelayAgent } from './agent-client.js';
import type { RelayFixture, RelayHostName } from './fixture.js';

/** The protocol functions raw registration needs, as the package exports them. */
export interface RawProtocol {
  encodeHello: (size?: number) => Buffer;
  decodeChallenge: (datagram: Buffer) => { body: Uint8Array } | undefined;
  registerSignatureInput: (challengeBody: Uint8Array, nodeId: string, relayId: string) => Uint8Array;
  encodeRegister: (challengeBody: Uint8Array, nodeId: string, signature: Uint8Array) => Buffer;
  encodeData: (nodeId: string, payload: Uint8Array) => Buffer;
}

const NEEDED = ['encodeHello', 'decodeChallenge', 'registerSignatureInput', 'encodeRegister', 'encodeData'] as const;

/** A plain UDP socket of the kit in a host's namespace (an agent socket). */
export interface RawSocket {
  host: RelayHostName;
  agent: RelayAgent;
  id: number;
}

/**
 * The package's raw protocol functions, or the skip reason naming the missing ones (the server
 * tests that need them are SKIPPED with it).
 */
export function rawProtocol(fx: RelayFixture): RawProtocol | string {
  const encodeHello = fx.protocolFn<RawProtocol['encodeHello']>('encodeHello');
  const decodeChallenge = fx.protocolFn<RawProtocol['decodeChallenge']>('decodeChallenge');
  const registerSignatureInput = fx.protocolFn<RawProtocol['registerSignatureInput']>('registerSignatureInput');
  const encodeRegister = fx.protocolFn<RawProtocol['encodeRegister']>('encodeRegister');
  const encodeData = fx.protocolFn<RawProtocol['encodeData']>('encodeData');
  if (encodeHello && decodeChallenge && registerSignatureInput && encodeRegister && encodeData) {
    return { encodeHello, decodeChallenge, registerSignatureInput, encodeRegister, encodeData };
  }
  const missing = NEEDED.filter((n) => !fx.protocolFn(n));
  return `the package's protocol namespace lacks ${missing.join(', ')}: the kit cannot register on the wire itself (docs/conformance.md, Relay)`;
}

/** The package's raw protocol functions; throws when missing (tests call it after {@link rawSkip}). */
export function rawProto(fx: RelayFixture): RawProtocol {
  const p = rawProtocol(fx);
  if (typeof p === 'string') throw new Error(p);
  return p;
}

/** Skip reason of tests needing the server and raw registration (undefined when both are there). */
export function rawSkip(fx: RelayFixture): string | undefined {
  if (fx.noServerReason) return fx.noServerReason;
  const p = rawProtocol(fx);
  return typeof p === 'string' ? p : undefined;
}

/** Opens a kit socket (ephemeral port, every address) in `host`'s namespace. */
export async function rawSocket(fx: RelayFixture, host: RelayHostName): Promise<RawSocket> {
  const agent = fx.agents[host];
  const s = await agent.open('0.0.0.0', 0);
  return { host, agent, id: s.id };
}

/** Datagrams `s` received so far (cleared with `clear`), decoded. */
export async function rawReceived(s: RawSocket, clear = false): Promise<Buffer[]> {
  const log = await s.agent.received(s.id, clear);
  return log.received.flatMap((r) => (r.data !== undefined ? [Buffer.from(r.data, 'base64')] : []));
}

/** Sends HELLO from `s` to `relay` and returns the challenge body of its answer (null: none within `timeoutMs`). */
export async function rawChallenge(p: RawProtocol, s: RawSocket, relay: Endpoint, timeoutMs: number): Promise<Uint8Array | null> {
  await rawReceived(s, true);
  const end = Date.now() + timeoutMs;
  for (let attempt = 0; attempt < 3 && Date.now() < end; attempt++) {
    await s.agent.send(s.id, relay, [p.encodeHello()]);
    const stop = Math.min(end, Date.now() + timeoutMs / 3);
    while (Date.now() < stop) {
      for (const d of await rawReceived(s)) {
        const c = p.decodeChallenge(d);
        if (c) return c.body;
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  return null;
}

/** A REGISTER of `nodeId` for the challenge `body`, signed in the kit with `keyId`'s key over `relayId`. */
export function rawRegister(fx: RelayFixture, p: RawProtocol, body: Uint8Array, nodeId: string, relayId: string, keyId = nodeId): Buffer {
  const key = createPrivateKey(readFileSync(fx.keys[keyId].keyFile));
  const sig = sign(null, p.registerSignatureInput(body, nodeId, relayId), key);
  return p.encodeRegister(body, nodeId, sig);
}

/**
 * Registers `nodeId` from a new kit socket in `host` with `relay` (HELLO, CHALLENGE, REGISTER from
 * the same socket), then waits `settleMs` for the answer.
 * @returns the socket, or null when no challenge came.
 */
export async function rawSession(
  fx: RelayFixture,
  p: RawProtocol,
  host: RelayHostName,
  relay: Endpoint,
  relayId: string,
  nodeId: string,
  settleMs = 300,
): Promise<RawSocket | null> {
  const s = await rawSocket(fx, host);
  const body = await rawChallenge(p, s, relay, fx.ms(3000));
  if (!body) return null;
  await s.agent.send(s.id, relay, [rawRegister(fx, p, body, nodeId, relayId)]);
  await new Promise((r) => setTimeout(r, settleMs));
  return s;
}

/**
 * Sends `count` DATA datagrams for `dest` carrying `payload` from `from`, then reports whether
 * `to` received one whose bytes contain `payload` within `waitMs`.
 */
export async function delivered(
  p: RawProtocol,
  from: RawSocket,
  relay: Endpoint,
  dest: string,
  payload: Buffer,
  to: RawSocket,
  waitMs: number,
  count = 3,
): Promise<boolean> {
  await from.agent.send(
    from.id,
    relay,
    Array.from({ length: count }, () => p.encodeData(dest, payload)),
  );
  const end = Date.now() + waitMs;
  for (;;) {
    if ((await rawReceived(to)).some((d) => d.includes(payload))) return true;
    if (Date.now() >= end) return false;
    await new Promise((r) => setTimeout(r, 100));
  }
}
