/**
 * The control plane's engine, independent of HTTP: opens the data directory (0700) with its
 * database and signing key, keeps an in-memory snapshot of the state, serves signed netmaps to
 * polls, wakes every poll on a change, re-signs before half a netmap's lifetime is gone, and
 * runs enrolment and admin changes through {@link ControlStore}.
 */
import { join } from 'node:path';
import { ensurePrivateDir } from '@rustynet/daemon';
import { RustynetError, isRustynetError, type Logger } from '@rustynet/plugin-api';
import {
  DEFAULT_NETMAP_LIFETIME_MS,
  RESIGN_AT,
  SILENT_LOGGER,
  type ControlServiceOptions,
  type EnrolRequest,
  type PollResult,
  type RequestAuth,
} from './control-options.js';
import { parseAclDocument, type AclDocument } from './acl/document.js';
import { aclNodesOf, assertAclSettable } from './acl/acl-admin.js';
import { runAclTests, type AclTestResult } from './acl/evaluate.js';
import { ChallengeStore } from './auth/challenges.js';
import { enrolSigningBytes } from './auth/enrol-signature.js';
import { RequestNonces } from './auth/shared-nonces.js';
import { REQUEST_FRESHNESS_MS, requestSigningBytes, verifyEd25519 } from './auth/request-signature.js';
import { loadOrCreateControlKey, type ControlKey } from './control-key.js';
import { auditAction } from './audit/audit-context.js';
import { controlAuditSigner } from './audit/audit-chain.js';
import { enrolAuditEvent } from './audit/audit-events.js';
import { DB_FILE, openDatabaseSpec, type OpenDatabase } from './db/open.js';
import { authFailed, toRustynetError, unknownNode } from './errors.js';
import { KeyExpiryWatch, applyKeyExpiry, expiredNodeError } from './nodes/key-expiry.js';
import { rotateNodeKeys, type RotateResult } from './nodes/rotate.js';
import type { RotateKeysBody } from './nodes/rotate-request.js';
import { ChangeFeed } from './netmap/change-feed.js';
import { NetmapCache } from './netmap/netmap-cache.js';
import { NetmapDeltas } from './netmap/delta.js';
import { buildNetmap, variantOf } from './netmap/build.js';
import { validateBuiltNetmap } from './netmap/validate.js';
import { ControlStore, type CreateAuthKeyOptions, type EnrolResult, type NodeSelfUpdate } from './store/control-store.js';
import { ChangeSync } from './store/change-sync.js';
import { RotationStore } from './keys/rotation-store.js';
import { SigningKeyRing } from './keys/signing-ring.js';
import { SigningKeyRotation } from './keys/rotation.js';
import type { AuthKeyInfo, ControlNode, Snapshot } from './store/types.js';

export {
  DEFAULT_NETMAP_LIFETIME_MS,
  RESIGN_AT,
  DEFAULT_POLL_TIMEOUT_MS,
  SILENT_LOGGER,
  type ControlServiceOptions,
  type EnrolRequest,
  type RequestAuth,
  type PollResult,
} from './control-options.js';

/** The engine. Create with {@link ControlService.open}; end with {@link close}. */
export class ControlService {
  private snap: Snapshot;
  private byIdentity = new Map<string, ControlNode>();
  private readonly feed = new ChangeFeed();
  private readonly cache: NetmapCache;
  private readonly deltas: NetmapDeltas;
  private readonly challenges = new ChallengeStore();
  private readonly nonces: RequestNonces;
  private readonly startedAt = Date.now();
  private timer: NodeJS.Timeout | undefined;
  private readonly sync: ChangeSync;
  private readonly keyWatch: KeyExpiryWatch;
  private closed = false;
  /** The logger given in the options (silent by default). */
  readonly logger: Logger;
  /** Node key lifetime (ms), or undefined: keys never expire. */
  readonly nodeKeyLifetimeMs: number | undefined;
  /** Signing-key rotation (keys/rotation.ts). */
  readonly rotation: SigningKeyRotation;

  private constructor(
    private readonly db: OpenDatabase,
    readonly store: ControlStore,
    primaryKey: ControlKey,
    readonly lifetimeMs: number,
    snap: Snapshot,
    opts: ControlServiceOptions,
  ) {
    this.nodeKeyLifetimeMs = opts.nodeKeyLifetimeMs;
    this.snap = applyKeyExpiry(snap, this.nodeKeyLifetimeMs);
    this.logger = opts.logger ?? SILENT_LOGGER;
    this.nonces = new RequestNonces(db, this.logger);
    this.keyWatch = new KeyExpiryWatch(
      () => this.snap,
      (now) => this.store.newVersion(now).then(() => this.refresh()),
      this.logger,
    );
    this.index(snap);
    this.rotation = new SigningKeyRotation(
      new SigningKeyRing(primaryKey, opts.dataDir),
      new RotationStore(db.db, db.engine),
      () => this.snap,
      () => this.refresh(),
      this.logger,
    );
    // Deltas are signed with the key that signs the full maps now.
    this.deltas = new NetmapDeltas(() => this.rotation.signerFor(this.snap).privateKeyPem);
    this.cache = new NetmapCache((s) => this.rotation.signerFor(s).privateKeyPem, {
      lifetimeMs,
      ...(opts.network !== undefined && { network: opts.network }),
      ...(opts.dnsZone !== undefined && { dnsZone: opts.dnsZone }),
      ...(opts.relays !== undefined && { relays: opts.relays }),
    });
    this.feed.publish(snap.version);
    this.sync = new ChangeSync(
      db,
      store,
      () => this.snap.version,
      () => this.refresh(),
      this.logger,
      opts.syncIntervalMs,
    );
  }

  /** The key netmaps are signed with now (after a rotation's switch: the new one, when held here). */
  get key(): ControlKey {
    return this.rotation.signerFor(this.snap);
  }

  /** The storage engine and where it is (PostgreSQL URL without the password). */
  get database(): { engine: OpenDatabase['engine']; location: string } {
    return { engine: this.db.engine, location: this.db.location };
  }

  /**
   * Checks that the netmaps built from `s` (both ACL variants) pass the daemon's checks.
   * @throws RustynetError `INVALID_INPUT` with `field` `<prefix><netmap field>`.
   */
  private checkBuild(s: Snapshot, prefix: string): void {
    for (const variant of ['stable', 'canary'] as const) {
      try {
        validateBuiltNetmap(buildNetmap(s, this.cache.settings, variant));
      } catch (err) {
        const field = `${prefix}${isRustynetError(err) && err.field !== undefined ? err.field : ''}`;
        throw new RustynetError('INVALID_INPUT', `${prefix}: ${err instanceof Error ? err.message : String(err)}`, { field, cause: err });
      }
    }
  }

  /**
   * Opens the data directory: creates it 0700, loads or creates the signing key, opens and
   * migrates the database and issues a new version (so every map served from now on is above
   * anything served before a restart).
   * @throws RustynetError `KEY_INVALID`, `STORAGE_FAILED`, `INVALID_INPUT` (bad lifetime).
   */
  static async open(opts: ControlServiceOptions): Promise<ControlService> {
    const lifetimeMs = opts.netmapLifetimeMs ?? DEFAULT_NETMAP_LIFETIME_MS;
    if (!Number.isInteger(lifetimeMs) || lifetimeMs < 10_000) {
      throw new RustynetError('INVALID_INPUT', 'netmap lifetime must be at least 10 s', { field: 'netmapLifetimeMs' });
    }
    const keyLifetime = opts.nodeKeyLifetimeMs;
    if (keyLifetime !== undefined && (!Number.isSafeInteger(keyLifetime) || keyLifetime < 1_000)) {
      throw new RustynetError('INVALID_INPUT', 'node key lifetime must be at least 1 s', { field: 'nodeKeyLifetimeMs' });
    }
    try {
      await ensurePrivateDir(opts.dataDir);
    } catch (err) {
      throw toRustynetError(err);
    }
    const key = await loadOrCreateControlKey(opts.dataDir, opts.keyFile);
    const database = await openDatabaseSpec(opts.database ?? join(opts.dataDir, DB_FILE));
    try {
      const store = new ControlStore(database.db, database.engine);
      await store.newVersion();
      const svc = new ControlService(database, store, key, lifetimeMs, await store.snapshot(), opts);
      await svc.rotation.prepare(svc.snap);
      svc.checkBuild(svc.snap, 'config');
      svc.startResigner();
      svc.sync.start();
      if (opts.nodeKeyLifetimeMs !== undefined) svc.keyWatch.start();
      svc.logger.info(
        {
          version: svc.snap.version,
          nodes: svc.snap.nodes.length,
          keyId: svc.key.keyId,
          ulaPrefix: svc.snap.ulaPrefix,
          database: database.location,
        },
        'control plane opened',
      );
      return svc;
    } catch (err) {
      await database.close();
      throw err;
    }
  }

  /** The current snapshot (read-only). */
  get snapshot(): Snapshot {
    return this.snap;
  }

  /** Number of polls waiting now. */
  get waitingPolls(): number {
    return this.feed.size;
  }

  private index(s: Snapshot): void {
    this.byIdentity = new Map(s.nodes.map((n) => [n.identityKey, n]));
  }

  /** Re-reads the state after a committed change and wakes every poll. */
  async refresh(): Promise<Snapshot> {
    const s = await this.store.snapshot();
    await this.rotation.prepare(s);
    if (s.version >= this.snap.version) {
      this.snap = applyKeyExpiry(s, this.nodeKeyLifetimeMs);
      this.index(this.snap);
      this.feed.publish(s.version);
    }
    return this.snap;
  }

  private startResigner(): void {
    const every = Math.max(500, Math.min(60_000, Math.floor(this.lifetimeMs / 20)));
    this.timer = setInterval(() => {
      this.resignIfDue().catch((err: unknown) =>
        this.logger.error({ code: toRustynetError(err).code, err: String(err) }, 're-signing failed'),
      );
    }, every);
    this.timer.unref();
  }

  /**
   * Issues a new version once 40% of the current one's lifetime is gone, so that with the timer
   * period (at most 5% of the lifetime) every map is replaced before half its lifetime is gone.
   * Returns true if it did.
   */
  async resignIfDue(now = Date.now()): Promise<boolean> {
    if (this.closed || now - this.snap.issuedAt < this.lifetimeMs * RESIGN_AT) return false;
    const version = await this.store.newVersion(now);
    await this.refresh();
    this.logger.debug({ version }, 're-signed netmaps');
    return true;
  }

  /** Issues an enrolment challenge. */
  challenge(): { challenge: string; expiresAt: number } {
    return this.challenges.issue();
  }

  /**
   * Enrols a node: consumes the challenge, checks the signature, then enrols atomically.
   * @throws RustynetError `AUTH_FAILED`, `INVALID_INPUT`, `STORAGE_FAILED`.
   */
  async enrol(req: EnrolRequest): Promise<EnrolResult> {
    this.challenges.consume(req.challenge);
    if (!verifyEd25519(req.identityKey, enrolSigningBytes(req), req.signature)) {
      throw authFailed('signature-invalid', 'enrolment signature does not verify with the identity key');
    }
    const { result } = await auditAction(controlAuditSigner(this.key), enrolAuditEvent(req), () => this.store.enrol(req));
    await this.refresh();
    this.logger.info(
      { node: result.node.id, created: result.created, version: result.version, addresses: [result.node.ipv4, result.node.ipv6] },
      'node enrolled',
    );
    return result;
  }

  /**
   * Authenticates a node request: known, not expired identity; timestamp within
   * {@link REQUEST_FRESHNESS_MS} and not before this process started; valid signature over
   * method, path, timestamp, nonce and body hash; nonce unused on any instance (auth/shared-nonces.ts).
   * @throws RustynetError `AUTH_FAILED`, `UNKNOWN_PEER`, `STORAGE_FAILED` (nonce not recorded).
   */
  async authenticate(auth: RequestAuth, method: string, path: string, body: Buffer, now = Date.now()): Promise<ControlNode> {
    const ts = Number(auth.timestamp);
    if (!/^\d{1,16}$/.test(auth.timestamp) || Math.abs(now - ts) > REQUEST_FRESHNESS_MS || ts < this.startedAt - 1_000) {
      throw authFailed('timestamp-stale', `request timestamp outside the ${REQUEST_FRESHNESS_MS / 1000} s window (check the clock)`);
    }
    const node = this.byIdentity.get(auth.identityKey);
    if (!node) throw unknownNode(auth.identityKey, 'x-rustynet-node');
    if (!/^[A-Za-z0-9_-]{16,64}$/.test(auth.nonce)) throw authFailed('headers-missing', 'bad nonce');
    if (!verifyEd25519(auth.identityKey, requestSigningBytes({ method, path, timestamp: ts, nonce: auth.nonce, body }), auth.signature)) {
      throw authFailed('signature-invalid', 'request signature does not verify with the node identity key');
    }
    await this.nonces.use(auth.identityKey, auth.nonce, now);
    if (node.expiredAt !== null) throw expiredNodeError(node);
    return node;
  }

  /**
   * {@link authenticate}, re-reading the state once when the identity is unknown here: another
   * instance on the same database may have enrolled it a moment ago.
   * @throws as {@link authenticate}.
   */
  async authenticateFresh(auth: RequestAuth, method: string, path: string, body: Buffer): Promise<ControlNode> {
    if (!this.byIdentity.has(auth.identityKey) && (await this.store.storedVersion()) > this.snap.version) await this.refresh();
    return this.authenticate(auth, method, path, body);
  }

  /**
   * Long-poll: resolves with the node's signed netmap once the version is above `after`, or
   * `timeout` after `timeoutMs`. With `delta`, a signed delta from `after` instead when that map
   * is a recent one (see netmap/delta.ts). A node removed or expired while waiting gets the error.
   * @throws RustynetError `UNKNOWN_PEER` (removed), `AUTH_FAILED` (`node-expired`).
   */
  async poll(identityKey: string, after: number, timeoutMs: number, signal?: AbortSignal, delta = false): Promise<PollResult> {
    if (after > this.snap.version) await this.refresh();
    if (after > this.snap.version) {
      // The node holds a newer map than this control plane ever issued: a restored or replaced
      // database. Its daemon refuses every lower version (watermark) until the counter passes it.
      this.logger.warn(
        { node: this.byIdentity.get(identityKey)?.id, after, version: this.snap.version },
        'node is ahead of the control plane version (restored database?)',
      );
    }
    const seen = this.byIdentity.get(identityKey);
    if (seen) this.rotation.noteAck(seen.id, after);
    const woken = await this.feed.wait(after, timeoutMs, signal);
    const node = this.byIdentity.get(identityKey);
    if (!node) throw unknownNode(identityKey, 'x-rustynet-node');
    if (node.expiredAt !== null) throw expiredNodeError(node);
    if (!woken || this.snap.version <= after) return { kind: 'timeout', version: this.snap.version };
    const variant = variantOf(this.snap, node.tags);
    const entry = this.cache.get(this.snap, variant);
    // Every served map is recorded (a base for later deltas); `after` 0 asks for no delta.
    return { kind: 'netmap', entry: this.deltas.forPoll(variant, delta ? after : 0, entry) ?? entry };
  }

  /** Applies a node's self-report. @throws RustynetError `UNKNOWN_PEER`, `STORAGE_FAILED`. */
  async selfUpdate(identityKey: string, upd: NodeSelfUpdate): Promise<{ node: ControlNode; version: number }> {
    const r = await this.store.selfUpdate(identityKey, upd);
    if (r.version !== null) await this.refresh();
    return { node: r.node, version: this.snap.version };
  }

  /** Rotates an authenticated node's keys (see nodes/rotate.ts). @throws as `rotateNodeKeys`. */
  async rotateKeys(node: ControlNode, body: RotateKeysBody): Promise<RotateResult> {
    const r = await rotateNodeKeys(this.store, node, body);
    await this.refresh();
    this.logger.info({ node: r.node.id, version: r.version }, 'node keys rotated');
    return r;
  }

  /** Creates a pre-auth key (text returned once). */
  createAuthKey(opts: CreateAuthKeyOptions): Promise<{ key: string; info: AuthKeyInfo }> {
    return this.store.createAuthKey(opts);
  }

  /** Runs a node admin change and wakes polls. */
  async nodeChange<T extends { version: number }>(fn: (store: ControlStore) => Promise<T>): Promise<T> {
    const r = await fn(this.store);
    await this.refresh();
    this.logger.info({ version: r.version }, 'admin change applied');
    return r;
  }

  /**
   * Validates an ACL document (schema, then the daemon's semantic checks on a trial netmap,
   * e.g. CIDR selectors without host bits) and runs its embedded tests against the current nodes.
   * @throws RustynetError `INVALID_INPUT` (invalid, or a test naming an unknown node).
   */
  testAcl(value: unknown): { doc: AclDocument; results: AclTestResult[]; ok: boolean } {
    const doc = parseAclDocument(value);
    this.checkBuild({ ...this.snap, acl: doc, canary: null }, 'acl');
    const results = runAclTests(doc, doc.tests ?? [], aclNodesOf(this.snap));
    return { doc, results, ok: results.every((r) => r.pass) };
  }

  /**
   * Sets the ACL (or a canary for nodes tagged `canaryTag`) after validating it and running its
   * tests. @throws RustynetError `INVALID_INPUT` (invalid, or `details.failed` = failing tests): nothing stored.
   */
  async setAcl(value: unknown, canaryTag: string | null): Promise<{ version: number; results: AclTestResult[] }> {
    const { doc, results } = this.testAcl(value);
    assertAclSettable(results, canaryTag);
    const version = await this.store.setAcl(doc, canaryTag);
    await this.refresh();
    this.logger.info({ version, rules: doc.rules.length, tests: results.length, canary: canaryTag }, 'ACL set');
    return { version, results };
  }

  /** Promotes or rolls back the canary ACL. @throws RustynetError `INVALID_INPUT` when none. */
  async endCanary(action: 'promote' | 'rollback'): Promise<number> {
    const version = await this.store.endCanary(action);
    await this.refresh();
    this.logger.info({ version, action }, 'canary ACL ended');
    return version;
  }

  /** Stops the re-signer, releases every poll and closes the database. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    this.keyWatch.stop();
    this.feed.close();
    await Promise.all([this.sync.stop(), this.nonces.close()]);
    await this.db.close();
  }
}
