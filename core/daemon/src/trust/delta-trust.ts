/**
 * Trust for signed netmap deltas: signature, schema, base, application, digest of the result,
 * then the same content checks as a full netmap (schema, semantics, expiry). A netmap derived
 * from a delta is authenticated by the delta's signature over its `digest`: it is persisted as
 * `{ netmap, delta }` ({@link DeltaDerivedNetmap}) and re-verified from that after a restart.
 */
import { sign as cryptoSign, verify as cryptoVerify, type KeyObject } from 'node:crypto';
import type { ValidateFunction } from 'ajv';
import {
  RustynetError,
  netmapSchema,
  netmapDeltaSchema,
  signedNetmapDeltaSchema,
  type Netmap,
  type NetmapDelta,
  type NetmapNode,
  type SignedNetmapDelta,
} from '@rustynet/plugin-api';
import { applyNetmapDelta, netmapDigest } from '../netmap/delta.js';
import { keyIdOf, privateKeyFromPem, publicKeyFromPrivatePem } from '../services/key-store.js';
import { errorField, formatAjvErrors, sharedValidator } from '../util/ajv.js';
import { canonicalJsonBytes } from '../util/json.js';
import { checkNetmapSemantics } from './semantic.js';
import { checkDeltaSemantics } from './delta-semantic.js';
import { checkNetmapContent, checkNetmapTimes, type KeyResolver } from './verify.js';

// Compiled on the first delta, in the shared instance (the netmap schema is the full map's).
const envelopeValidator = (): ValidateFunction<SignedNetmapDelta> => sharedValidator<SignedNetmapDelta>(signedNetmapDeltaSchema);
const deltaValidator = (): ValidateFunction<NetmapDelta> => sharedValidator<NetmapDelta>(netmapDeltaSchema);
const netmapValidator = (): ValidateFunction<Netmap> => sharedValidator<Netmap>(netmapSchema);
const nodeValidator = (): ValidateFunction<object> => sharedValidator<object>(netmapSchema.properties.nodes.items);
const MAX_NODES: number = netmapSchema.properties.nodes.maxItems;

/**
 * Node objects of verified netmaps (frozen, see `netmapDigest`): their canonical JSON, and
 * whether they passed the node schema. A delta's result shares all but the changed nodes with the
 * applied map, so its digest and schema check cost the changed nodes, not the whole map.
 */
const nodeCanonical = new WeakMap<object, Buffer>();
const schemaValid = new WeakSet<object>();

/**
 * {@link checkNetmapContent} for a delta's result: the node schema only for nodes not checked
 * before (only `fresh` ones when given: the nodes a delta added to a verified base), the rest of
 * the schema on the map with one node, then semantics (with `fresh`: {@link checkDeltaSemantics})
 * and time.
 */
function checkDerivedContent(netmap: Netmap, now: number | 'untimed', fresh?: readonly unknown[]): Netmap {
  if (now === 'untimed') return checkDerivedContent(netmap, Date.parse(netmap.issuedAt), fresh);
  const nodes = (netmap as { nodes?: unknown }).nodes;
  if (!Array.isArray(nodes) || nodes.length === 0 || nodes.length > MAX_NODES) return checkNetmapContent(netmap, now);
  const check = (n: unknown, i: () => number): void => {
    if (n !== null && typeof n === 'object' && schemaValid.has(n)) return;
    const validateNode = nodeValidator();
    if (!validateNode(n)) throw invalid('netmap', validateNode.errors, `nodes[${i()}]`);
    schemaValid.add(n);
  };
  // Applied to a verified base, only the nodes the delta brings are new (the others are the base's).
  if (fresh) for (const n of fresh) check(n, () => nodes.indexOf(n));
  else nodes.forEach((n: unknown, i) => check(n, () => i));
  const validateNetmap = netmapValidator();
  if (!validateNetmap({ ...netmap, nodes: [nodes[0]] })) throw invalid('netmap', validateNetmap.errors, '');
  if (fresh) checkDeltaSemantics(netmap, fresh as NetmapNode[]);
  else checkNetmapSemantics(netmap);
  checkNetmapTimes(netmap, now);
  return netmap;
}

/** A netmap obtained by applying a signed delta: its authenticity is the delta's signed digest. */
export interface DeltaDerivedNetmap {
  netmap: Netmap;
  delta: SignedNetmapDelta;
}

/** True for a value shaped like a {@link DeltaDerivedNetmap} (`netmap` and `delta` members). */
export function isDeltaDerived(value: unknown): value is DeltaDerivedNetmap {
  return value !== null && typeof value === 'object' && 'netmap' in value && 'delta' in value;
}

/**
 * Signs a netmap delta with the control-plane Ed25519 private key (PKCS#8 PEM): Ed25519 over the
 * RFC 8785 canonical JSON of `delta`, exactly as `signNetmap` signs a netmap. Does not validate.
 * @throws RustynetError `KEY_INVALID` when the key is not an Ed25519 private key.
 */
export function signNetmapDelta(delta: NetmapDelta, privateKeyPem: string): SignedNetmapDelta {
  const key = privateKeyFromPem(privateKeyPem);
  const value = cryptoSign(null, canonicalJsonBytes(delta), key).toString('base64');
  return { delta, signature: { alg: 'Ed25519', keyId: keyIdOf(publicKeyFromPrivatePem(privateKeyPem)), value } };
}

function invalid(what: string, errors: ValidateFunction['errors'], prefix: string): RustynetError {
  const first = errors?.[0];
  return new RustynetError('NETMAP_INVALID', `${what}: ${formatAjvErrors(errors)}`, { ...(first && { field: errorField(first, prefix) }) });
}

/**
 * Verifies a signed delta envelope: schema, Ed25519 signature over the canonical `delta`, delta
 * schema. Says nothing about whether it applies.
 * @throws RustynetError `NETMAP_INVALID` (naming the field), `NETMAP_SIGNATURE_INVALID`.
 */
export function verifySignedNetmapDelta(input: unknown, key: KeyObject | KeyResolver): SignedNetmapDelta {
  const validateEnvelope = envelopeValidator();
  if (!validateEnvelope(input)) throw invalid('signed netmap delta envelope', validateEnvelope.errors, '');
  // A key set picks the key by the signature's keyId (and names an unknown one in its error).
  const verifyKey = typeof key === 'function' ? key(input.signature.keyId) : key;
  let ok: boolean;
  try {
    ok = cryptoVerify(null, canonicalJsonBytes(input.delta), verifyKey, Buffer.from(input.signature.value, 'base64'));
  } catch {
    ok = false;
  }
  if (!ok)
    throw new RustynetError('NETMAP_SIGNATURE_INVALID', 'netmap delta signature does not verify against the control-plane key', {
      field: 'signature.value',
    });
  const validateDelta = deltaValidator();
  if (!validateDelta(input.delta)) throw invalid('netmap delta', validateDelta.errors, 'delta');
  return input;
}

/** Result of {@link applySignedNetmapDelta}. */
export interface AppliedDelta {
  netmap: Netmap;
  /** SHA-256 hex of the result's canonical JSON (equal to the signed `delta.digest`). */
  digest: string;
  /** What to persist for this netmap. */
  derived: DeltaDerivedNetmap;
  /**
   * `derived` as JSON text, built (on first read) from the canonical JSON the digest was
   * computed over (no second serialisation of the whole map): what the apply intent and last
   * good map hold when the map is persisted whole.
   */
  readonly text: string;
}

/**
 * Verifies `input` (see {@link verifySignedNetmapDelta}), applies it to `base` (the last good
 * netmap and its digest), checks the result's digest against the signed one, then checks the
 * result as a full netmap's content (schema, semantics, expiry). Changes nothing.
 * @param now the time for the expiry check (ms since the epoch); `'untimed'` checks the times
 *   only for consistency (the caller checks the map it keeps against the clock, e.g. the
 *   journal's replay, whose intermediate maps may have expired since).
 * @throws RustynetError `NETMAP_INVALID`, `NETMAP_SIGNATURE_INVALID`, `NETMAP_EXPIRED`, or
 *   `NETMAP_DELTA_INAPPLICABLE` (`details.reason`: `no-base`, `base-version`, `base-digest`,
 *   `version`, `absent-node`, `absent-member`, `digest`).
 */
export function applySignedNetmapDelta(
  input: unknown,
  key: KeyObject | KeyResolver,
  base: { netmap: Netmap; digest: string } | undefined,
  now: number | 'untimed',
): AppliedDelta {
  const signed = verifySignedNetmapDelta(input, key);
  const d = signed.delta;
  if (!base)
    throw new RustynetError('NETMAP_DELTA_INAPPLICABLE', 'netmap delta: no netmap applied yet to apply it to', {
      field: 'delta.baseVersion',
      details: { reason: 'no-base' },
    });
  if (base.netmap.version !== d.baseVersion || base.digest !== d.baseDigest) {
    const reason = base.netmap.version !== d.baseVersion ? 'base-version' : 'base-digest';
    throw new RustynetError(
      'NETMAP_DELTA_INAPPLICABLE',
      `netmap delta: base ${d.baseVersion}/${d.baseDigest.slice(0, 12)} is not the applied netmap ${base.netmap.version}/${base.digest.slice(0, 12)}`,
      { field: reason === 'base-version' ? 'delta.baseVersion' : 'delta.baseDigest', details: { reason } },
    );
  }
  const netmap = applyNetmapDelta(base.netmap, d);
  let digest: string;
  const canonical: Buffer[] = [];
  try {
    digest = netmapDigest(netmap, nodeCanonical, canonical);
  } catch {
    digest = '';
  }
  if (digest !== d.digest)
    throw new RustynetError('NETMAP_DELTA_INAPPLICABLE', 'netmap delta: the resulting netmap does not have the signed digest', {
      field: 'delta.digest',
      details: { reason: 'digest' },
    });
  // `base` is a verified netmap: its nodes passed the node schema; the delta's own are checked here.
  const fresh = d.ops.flatMap((op) => (op.op === 'upsertNode' ? [op.node] : []));
  checkDerivedContent(netmap, now, fresh);
  let text: string | undefined;
  return {
    netmap,
    digest,
    derived: { netmap, delta: signed },
    get text(): string {
      text ??= `{"netmap":${Buffer.concat(canonical).toString('utf8')},"delta":${JSON.stringify(signed)}}`;
      return text;
    },
  };
}

/**
 * Re-verifies a persisted {@link DeltaDerivedNetmap}: the delta's signature, the netmap's version
 * and digest against the signed ones, and the content checks.
 * @throws RustynetError `NETMAP_INVALID`, `NETMAP_SIGNATURE_INVALID`, `NETMAP_EXPIRED`,
 *   `NETMAP_DELTA_INAPPLICABLE` (`digest`: the netmap is not the one the delta produced).
 */
export function verifyDeltaDerived(
  input: DeltaDerivedNetmap,
  key: KeyObject | KeyResolver,
  now: number | 'untimed',
): { netmap: Netmap; digest: string } {
  const signed = verifySignedNetmapDelta(input.delta, key);
  const netmap = input.netmap as unknown;
  let digest: string;
  try {
    digest = netmapDigest(netmap as Netmap, nodeCanonical);
  } catch {
    digest = '';
  }
  if (digest !== signed.delta.digest || (netmap as Partial<Netmap>).version !== signed.delta.version)
    throw new RustynetError('NETMAP_DELTA_INAPPLICABLE', 'stored netmap is not the one its signed delta produced', {
      field: 'netmap',
      details: { reason: 'digest' },
    });
  return { netmap: checkDerivedContent(netmap as Netmap, now), digest };
}
