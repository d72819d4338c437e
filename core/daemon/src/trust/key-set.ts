/**
 * The set of control-plane signing keys a daemon trusts: the keys pinned in its config
 * (`controlPlaneKey` and `controlPlaneKeys`), plus keys the control plane announced as `next`
 * in a netmap that verified against an already trusted key, minus keys announced as `retired`.
 * What was learned is persisted in the state store (`control-keys.json`, atomic, 0600), so a
 * restarted daemon keeps trusting a key it learned before. See docs/operations/key-rotation.md.
 */
import type { KeyObject } from 'node:crypto';
import { RustynetError, type Netmap, type StateStore } from '@rustynet/plugin-api';
import { keyIdOf, publicKeyFromRawB64 } from '../services/key-store.js';

/** State key of the learned keys in the core state store. */
export const CONTROL_KEYS_STATE = 'control-keys';

/** Format of `control-keys.json`. */
export interface PersistedControlKeys {
  /** Format version: 1. */
  v: 1;
  /** Keys learned from `signingKeys.next` (raw Ed25519, base64). */
  added: string[];
  /** Keys retired by `signingKeys.retired`: never trusted again, pinned or not. */
  retired: string[];
}

/** A trusted key: its base64 text, id (`signature.keyId`) and node:crypto object. */
export interface TrustedKey {
  publicKey: string;
  keyId: string;
  key: KeyObject;
}

/** What {@link ControlKeySet.learn} changed. */
export interface KeySetChange {
  added?: string;
  retired?: string;
}

const RAW_KEY = /^[A-Za-z0-9+/]{43}=$/;

/** The daemon's trusted control-plane keys. */
export class ControlKeySet {
  private persisted: PersistedControlKeys = { v: 1, added: [], retired: [] };
  private loaded = false;
  private byId = new Map<string, TrustedKey>();
  private readonly pinned: string[];

  /**
   * @param pinned the config's keys (at least one).
   * @throws RustynetError `KEY_INVALID` when a pinned key is malformed (naming its index).
   */
  constructor(
    pinned: readonly string[],
    private readonly store: StateStore,
  ) {
    if (pinned.length === 0) throw new RustynetError('KEY_INVALID', 'no control-plane key pinned', { field: 'controlPlaneKey' });
    pinned.forEach((k, i) => {
      if (!RAW_KEY.test(k)) {
        throw new RustynetError('KEY_INVALID', 'control-plane key must be a raw 32-byte Ed25519 public key in base64', {
          field: i === 0 ? 'controlPlaneKey' : `controlPlaneKeys/${i - 1}`,
        });
      }
    });
    this.pinned = [...new Set(pinned)];
    this.rebuild({ v: 1, added: [], retired: [] });
  }

  /**
   * Reads the persisted learned keys once. A missing file means none; a malformed one is an
   * error (a tampered state directory must not silently widen or narrow trust).
   * @throws RustynetError `KEY_INVALID` (field `control-keys.json`).
   */
  async load(): Promise<void> {
    if (this.loaded) return;
    const raw = await this.store.read(CONTROL_KEYS_STATE);
    if (raw !== undefined) this.rebuild(parsePersisted(raw));
    this.loaded = true;
  }

  private rebuild(p: PersistedControlKeys): void {
    this.persisted = p;
    const retired = new Set(p.retired);
    const map = new Map<string, TrustedKey>();
    for (const publicKey of [...this.pinned, ...p.added]) {
      if (retired.has(publicKey)) continue;
      const keyId = keyIdOf(publicKey);
      map.set(keyId, { publicKey, keyId, key: publicKeyFromRawB64(publicKey) });
    }
    this.byId = map;
  }

  /** The trusted keys now (base64), pinned first. */
  get trusted(): string[] {
    return [...this.byId.values()].map((k) => k.publicKey);
  }

  /**
   * The trusted key a signature names by `keyId`.
   * @throws RustynetError `NETMAP_SIGNATURE_INVALID` (field `signature.keyId`) when no trusted
   *   key has that id, with what to do when the control plane rotated its key.
   */
  keyFor(keyId: string): TrustedKey {
    const k = this.byId.get(keyId);
    if (k) return k;
    const ids = [...this.byId.keys()].join(', ');
    throw new RustynetError(
      'NETMAP_SIGNATURE_INVALID',
      `netmap is signed by control-plane key ${keyId}, which this node does not trust (trusted: ${ids}). ` +
        'If the control plane rotated its signing key while this node was away, add the new key ' +
        '(control-plane.pub on the control host, or `rustynet control rotate-signing-key --status`) to ' +
        '"controlPlaneKeys" in the daemon config and restart rustynetd (docs/operations/key-rotation.md)',
      { field: 'signature.keyId', details: { keyId, trusted: [...this.byId.keys()] } },
    );
  }

  /**
   * Applies a verified netmap's `signingKeys`: adds `next`, retires `retired` (unless it signed
   * this very map), and persists the result before returning. Call only with a netmap that
   * verified against `signer`, a key of this set, and passed the watermark. Nothing changes when
   * the netmap announces nothing new; nothing changes in memory when the write fails.
   * @throws RustynetError `STATE_WRITE_FAILED` (the old set stays, in memory and on disk).
   */
  async learn(netmap: Netmap, signer: string): Promise<KeySetChange> {
    await this.load();
    const cur = this.persisted;
    if (!this.trusted.includes(signer)) return {};
    const sk = netmap.signingKeys;
    if (!sk) return {};
    const change: KeySetChange = {};
    const next: PersistedControlKeys = { v: 1, added: [...cur.added], retired: [...cur.retired] };
    if (sk.next !== undefined && !next.retired.includes(sk.next) && !this.trusted.includes(sk.next)) {
      next.added.push(sk.next);
      change.added = sk.next;
    }
    if (sk.retired !== undefined && sk.retired !== signer && sk.retired !== sk.next && !next.retired.includes(sk.retired)) {
      next.retired.push(sk.retired);
      next.added = next.added.filter((k) => k !== sk.retired);
      change.retired = sk.retired;
    }
    if (change.added === undefined && change.retired === undefined) return {};
    await this.store.write(CONTROL_KEYS_STATE, next);
    this.rebuild(next);
    return change;
  }
}

function parsePersisted(raw: unknown): PersistedControlKeys {
  const bad = (what: string): RustynetError =>
    new RustynetError('KEY_INVALID', `${CONTROL_KEYS_STATE}.json: ${what}`, { field: `${CONTROL_KEYS_STATE}.json` });
  if (typeof raw !== 'object' || raw === null || (raw as { v?: unknown }).v !== 1) throw bad('not a version 1 key list');
  const r = raw as { added?: unknown; retired?: unknown };
  const list = (x: unknown, name: string): string[] => {
    if (!Array.isArray(x) || x.length > 64 || !x.every((k): k is string => typeof k === 'string' && RAW_KEY.test(k))) {
      throw bad(`"${name}" must be a list of raw Ed25519 keys in base64`);
    }
    return x;
  };
  return { v: 1, added: list(r.added, 'added'), retired: list(r.retired, 'retired') };
}
