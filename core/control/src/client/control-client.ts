/**
 * `ControlClient`: what a daemon uses to talk to the control plane. It enrols (pre-auth key +
 * a server challenge signed with the node's Ed25519 identity key), long-polls for signed
 * netmaps and reports its endpoints. It never sends a private key; the netmaps it returns are
 * NOT verified here: hand them to the daemon's trust (signature, schema, expiry, watermark).
 */
import { createPublicKey, sign, type KeyObject } from 'node:crypto';
import { RustynetError, isRustynetError, type Endpoint, type SignedNetmap, type SignedNetmapDelta } from '@rustynet/plugin-api';
import { privateKeyFromPem } from '@rustynet/daemon';
import { enrolSigningBytes } from '../auth/enrol-signature.js';
import { signRequest } from '../auth/request-signature.js';
import { rotateSigningBytes } from '../nodes/rotate-request.js';
import { replyError, sendRequest, type HttpTarget, type JsonReply } from './http-request.js';

/** True for a transport failure (no reply) or a reply saying the instance's storage is away. */
function shouldFailOver(err: unknown): err is RustynetError {
  if (!isRustynetError(err) || err.code === 'ABORTED') return false;
  const status = err.details?.['status'];
  return status === undefined || status === 503 || status === 507;
}

/**
 * The reply when its status is one of `ok`, else its error, thrown inside a failover attempt, so that a
 * 503/507 reply (that instance lost its database) moves on to the next URL.
 */
async function expectStatus(reply: Promise<JsonReply>, ...ok: number[]): Promise<JsonReply> {
  const r = await reply;
  if (!ok.includes(r.status)) throw replyError(r);
  return r;
}

/** Options of {@link ControlClient}. */
export interface ControlClientOptions {
  /**
   * Base URL of the control plane, e.g. `https://control.example:4242`, or several instances of
   * it (sharing one database), tried in order: a request that cannot reach the current one (no
   * connection, connection lost, no reply in time) is sent to the next at once, and the client
   * stays there. A reply never fails over, except 503 and 507 (that instance cannot reach its
   * database: `STORAGE_CONFLICT`, `STORAGE_FAILED`).
   */
  url: string | readonly string[];
  /** Called on each switch to another URL (for logs). Never given secrets. */
  onFailover?: (from: string, to: string, err: RustynetError) => void;
  /** The node's identity private key (PKCS#8 PEM, Ed25519). */
  identityKeyPem: string;
  /** Extra CA certificates for HTTPS. */
  ca?: string | Buffer;
  /** Timeout of non-poll requests (ms); default 10 s. */
  requestTimeoutMs?: number;
}

/** What to register. */
export interface EnrolParams {
  /** Pre-auth key text (a secret: read it from a file, never log it). */
  authKey: string;
  /** Wanted node name (DNS label); a taken one gets a `-2` style suffix. */
  name: string;
  /** Backend public keys by protocol id (opaque). */
  keys: Record<string, string>;
  endpoints?: Endpoint[];
  probePort?: number;
}

/** The enrolment reply. */
export interface EnrolReply {
  node: { id: string; name: string; addresses: string[]; tags: string[]; identityKey: string };
  created: boolean;
  version: number;
  /** The control-plane public key (base64 raw Ed25519): pin it out of band, compare here. */
  controlPlaneKey: string;
  netmapLifetimeMs: number;
}

/** Client of the node API. */
export class ControlClient {
  private key: KeyObject;
  /** This node's identity public key (raw 32 bytes, base64); changes with {@link rotateKeys}. */
  identityKey: string;
  private readonly targets: HttpTarget[];
  private current = 0;
  private readonly timeoutMs: number;
  private readonly onFailover: ControlClientOptions['onFailover'];
  /** How many times a request switched to another URL. */
  failovers = 0;

  /** @throws RustynetError `KEY_INVALID` when the key is not an Ed25519 private key. */
  constructor(opts: ControlClientOptions) {
    this.key = privateKeyFromPem(opts.identityKeyPem);
    this.identityKey = rawPublicKey(this.key);
    const urls = typeof opts.url === 'string' ? [opts.url] : [...opts.url];
    if (urls.length === 0) throw new RustynetError('INVALID_INPUT', 'url: give at least one control-plane URL', { field: 'url' });
    this.targets = urls.map((baseUrl) => ({ baseUrl, ...(opts.ca !== undefined && { ca: opts.ca }) }));
    this.timeoutMs = opts.requestTimeoutMs ?? 10_000;
    this.onFailover = opts.onFailover;
  }

  /** The URL requests go to now. */
  get url(): string {
    return this.targets[this.current]?.baseUrl ?? '';
  }

  /**
   * Runs `fn` against the current URL; when it cannot reach it (a transport error, not a reply),
   * moves to the next URL and runs `fn` again, trying each URL once.
   * @throws RustynetError the last transport error, or `fn`'s error for a reply.
   */
  private async withFailover<T>(fn: (target: HttpTarget) => Promise<T>, signal?: AbortSignal): Promise<T> {
    for (let tried = 1; ; tried++) {
      const target = this.targets[this.current];
      if (target === undefined) throw new RustynetError('INTERNAL', 'no control-plane URL');
      try {
        return await fn(target);
      } catch (err) {
        if (!shouldFailOver(err) || signal?.aborted || tried >= this.targets.length) throw err;
        this.current = (this.current + 1) % this.targets.length;
        this.failovers++;
        this.onFailover?.(target.baseUrl, this.url, err);
      }
    }
  }

  /**
   * Enrols (or re-enrols) this node.
   * @throws RustynetError `AUTH_FAILED` (key unknown/used/expired, challenge, signature),
   *   `INVALID_INPUT`, `STORAGE_FAILED`, `TIMEOUT`, `INTERNAL` (unreachable).
   */
  async enrol(p: EnrolParams): Promise<EnrolReply> {
    return this.withFailover((target) => this.enrolAt(target, p));
  }

  private async enrolAt(target: HttpTarget, p: EnrolParams): Promise<EnrolReply> {
    const ch = await sendRequest(target, 'POST', '/v1/enrol/challenge', Buffer.from('{}'), {}, this.timeoutMs);
    if (ch.status !== 200) throw replyError(ch);
    const challenge = String((ch.body as { challenge?: unknown }).challenge);
    const fields = {
      challenge,
      identityKey: this.identityKey,
      name: p.name,
      keys: p.keys,
      endpoints: p.endpoints ?? [],
      ...(p.probePort !== undefined && { probePort: p.probePort }),
    };
    const signature = sign(null, enrolSigningBytes(fields), this.key).toString('base64');
    const body = Buffer.from(JSON.stringify({ ...fields, authKey: p.authKey, signature }));
    const r = await sendRequest(target, 'POST', '/v1/enrol', body, {}, this.timeoutMs);
    if (r.status !== 200 && r.status !== 201) throw replyError(r);
    return r.body as EnrolReply;
  }

  /**
   * Long-polls for a netmap newer than `after`. Resolves with the signed netmap (unverified),
   * or null when the server held the request `waitMs` without a change. With `delta`, the server
   * may answer with a signed delta from version `after` instead (`SignedNetmapDelta`, unverified).
   * @throws RustynetError `UNKNOWN_PEER` (removed), `AUTH_FAILED` (`node-expired`, clock),
   *   `TIMEOUT`, `ABORTED`, `INTERNAL` (unreachable).
   */
  poll(after: number, opts?: { waitMs?: number; signal?: AbortSignal; delta?: false }): Promise<SignedNetmap | null>;
  poll(after: number, opts: { waitMs?: number; signal?: AbortSignal; delta: boolean }): Promise<SignedNetmap | SignedNetmapDelta | null>;
  async poll(
    after: number,
    opts: { waitMs?: number; signal?: AbortSignal; delta?: boolean } = {},
  ): Promise<SignedNetmap | SignedNetmapDelta | null> {
    const path = `/v1/netmap?after=${after}${opts.waitMs !== undefined ? `&wait=${opts.waitMs}` : ''}${opts.delta ? '&delta=1' : ''}`;
    const r = await this.withFailover(
      (target) =>
        expectStatus(
          sendRequest(
            target,
            'GET',
            path,
            undefined,
            signRequest(this.key, this.identityKey, 'GET', path, ''),
            (opts.waitMs ?? 25_000) + this.timeoutMs,
            opts.signal,
          ),
          200,
          204,
        ),
      opts.signal,
    );
    if (r.status === 204) return null;
    return r.body as SignedNetmap | SignedNetmapDelta;
  }

  /**
   * Rotates this node's keys: sends the new identity public key and backend public keys, signed
   * by the current identity key, with a proof signed by the new one. On success the client signs
   * every later request with the new key. On error it keeps the current key.
   * @param newIdentityKeyPem the new identity private key (PKCS#8 PEM, Ed25519; never sent).
   * @throws RustynetError `AUTH_FAILED` (`rotation-proof-invalid`, `node-expired`, `node-key-expired`,
   *   clock), `INVALID_INPUT` (a key already used by another node), `UNKNOWN_PEER`, `KEY_INVALID`,
   *   `TIMEOUT`, `INTERNAL` (unreachable).
   */
  async rotateKeys(newIdentityKeyPem: string, keys: Record<string, string>): Promise<{ version: number; nodeId: string }> {
    const next = privateKeyFromPem(newIdentityKeyPem);
    const newIdentityKey = rawPublicKey(next);
    const proof = sign(null, rotateSigningBytes({ oldIdentityKey: this.identityKey, newIdentityKey, keys }), next).toString('base64');
    const body = JSON.stringify({ newIdentityKey, keys, proof });
    const path = '/v1/node/rotate-keys';
    const r = await this.withFailover((target) =>
      expectStatus(
        sendRequest(target, 'POST', path, Buffer.from(body), signRequest(this.key, this.identityKey, 'POST', path, body), this.timeoutMs),
        200,
      ),
    );
    this.useIdentity(newIdentityKeyPem);
    const reply = r.body as { version?: unknown; node?: { id?: unknown } };
    return { version: Number(reply.version), nodeId: String(reply.node?.id) };
  }

  /**
   * Signs later requests with another identity key (after a rotation completed elsewhere, e.g.
   * recovered at start). @throws RustynetError `KEY_INVALID`.
   */
  useIdentity(identityKeyPem: string): void {
    this.key = privateKeyFromPem(identityKeyPem);
    this.identityKey = rawPublicKey(this.key);
  }

  /**
   * Reports this node's endpoints / backend keys / probe port; returns the version after it.
   * @throws RustynetError as {@link poll}, plus `INVALID_INPUT`.
   */
  async report(update: { endpoints?: Endpoint[]; keys?: Record<string, string>; probePort?: number | null }): Promise<number> {
    const body = JSON.stringify(update);
    const r = await this.withFailover((target) =>
      expectStatus(
        sendRequest(
          target,
          'POST',
          '/v1/node',
          Buffer.from(body),
          signRequest(this.key, this.identityKey, 'POST', '/v1/node', body),
          this.timeoutMs,
        ),
        200,
      ),
    );
    return Number((r.body as { version?: unknown }).version);
  }
}

/** The raw 32-byte public key of an Ed25519 private key, base64 (the last 32 bytes of the SPKI DER, RFC 8410). */
function rawPublicKey(key: KeyObject): string {
  // Not via JWK export: on Node 20.20 many JWK exports next to key generation deadlocked once (see bench/lib/keys.mjs).
  return createPublicKey(key).export({ format: 'der', type: 'spki' }).subarray(-32).toString('base64');
}
