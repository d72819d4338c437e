/**
 * Netmap deltas as data: applying one to a base netmap, and computing one from two netmaps.
 * Pure functions (no signature, no schema): the trust step (trust/delta-trust.ts) verifies the
 * signed delta before and the resulting netmap after. See docs/netmap-deltas.md.
 */
import { RustynetError, type Netmap, type NetmapDelta, type NetmapDeltaOp, type NetmapNode } from '@rustynet/plugin-api';
import { jsonEqual } from '../reconciler/diff.js';
import { createHash } from 'node:crypto';
import { canonicalJson } from '../util/json.js';

const COMMA = Buffer.from(',');

/**
 * SHA-256 hex of the RFC 8785 canonical JSON of a netmap (the bytes its signature covers).
 * With `cache`, each node's canonical JSON (UTF-8) is kept by node object, so the digest of a map
 * that shares most node objects with one digested before costs the changed nodes plus one copy
 * and one hash pass over the bytes; the cached node objects are frozen (deeply) so they cannot
 * change behind the cache.
 * @param out when given, receives the canonical JSON (the hashed bytes) as one buffer.
 * @throws TypeError when a member has no JSON representation.
 */
export function netmapDigest(netmap: Netmap, cache?: WeakMap<object, Buffer>, out?: Buffer[]): string {
  const parts: Buffer[] = [];
  const put = (s: string): void => void parts.push(Buffer.from(s, 'utf8'));
  const obj = netmap as unknown as Record<string, unknown>;
  // RFC 8785: members sorted by UTF-16 code units (the default sort), `undefined` ones absent.
  const keys = Object.keys(obj)
    .filter((k) => obj[k] !== undefined && typeof obj[k] !== 'function' && typeof obj[k] !== 'symbol')
    .sort();
  put('{');
  keys.forEach((k, i) => {
    put(`${i > 0 ? ',' : ''}${JSON.stringify(k)}:`);
    const v = obj[k];
    if (k !== 'nodes' || !Array.isArray(v)) return void put(canonicalJson(v));
    put('[');
    v.forEach((n: unknown, j) => {
      if (j > 0) parts.push(COMMA);
      if (!cache || n === null || typeof n !== 'object') return void put(canonicalJson(n ?? null));
      let c = cache.get(n);
      if (c === undefined) {
        c = Buffer.from(canonicalJson(n), 'utf8');
        cache.set(deepFreeze(n), c);
      }
      parts.push(c);
    });
    put(']');
  });
  put('}');
  const bytes = Buffer.concat(parts);
  out?.push(bytes);
  return createHash('sha256').update(bytes).digest('hex');
}

/** Freezes a JSON value and everything in it; returns it. */
export function deepFreeze<T>(v: T): T {
  if (v !== null && typeof v === 'object' && !Object.isFrozen(v)) {
    Object.freeze(v);
    for (const x of Object.values(v)) deepFreeze(x);
  }
  return v;
}

function inapplicable(reason: string, message: string, field?: string): RustynetError {
  return new RustynetError('NETMAP_DELTA_INAPPLICABLE', `netmap delta: ${message}`, { ...(field && { field }), details: { reason } });
}

/** True for a value shaped like a signed delta envelope (`delta` and no `netmap` member). */
export function isDeltaEnvelope(value: unknown): value is { delta: unknown } {
  return value !== null && typeof value === 'object' && !Array.isArray(value) && 'delta' in value && !('netmap' in value);
}

/**
 * Applies `delta`'s operations to `base` (which must be the netmap of `delta.baseVersion`; the
 * caller checks the digests) and sets `version`. `base` is not modified: the result shares the
 * unchanged nodes with it; its `nodes` array is frozen (its id index is kept for the next
 * delta). Does not validate the result (schema, semantics): the caller does.
 * @throws RustynetError `NETMAP_DELTA_INAPPLICABLE` (`details.reason`: `base-version` when
 *   `base.version` is not `delta.baseVersion`, `version` when the new version is not above it,
 *   `absent-node` / `absent-member` for a remove or delete of something not there, `bad-op`) with
 *   the operation's index in `field`.
 */
export function applyNetmapDelta(base: Netmap, delta: NetmapDelta): Netmap {
  if (base.version !== delta.baseVersion)
    throw inapplicable('base-version', `base version ${delta.baseVersion} is not the applied version ${base.version}`, 'delta.baseVersion');
  if (!(delta.version > delta.baseVersion))
    throw inapplicable('version', `version ${delta.version} is not above the base version ${delta.baseVersion}`, 'delta.version');
  const nodes: NetmapNode[] = [...base.nodes];
  const baseIndex = indexOf(base.nodes);
  // Copied on the first change of the id -> position map (a removal or a new node).
  let index = baseIndex;
  const own = (): Map<string, number> => (index === baseIndex ? (index = new Map(baseIndex)) : index);
  const removed = new Set<number>();
  const out = new Map<string, unknown>();
  for (const [k, v] of Object.entries(base)) if (k !== 'nodes') out.set(k, v);
  delta.ops.forEach((op: NetmapDeltaOp, i) => {
    const field = `delta.ops[${i}]`;
    switch (op.op) {
      case 'upsertNode': {
        const at = index.get(op.node.id);
        if (at !== undefined) nodes[at] = op.node;
        else own().set(op.node.id, nodes.push(op.node) - 1);
        return;
      }
      case 'removeNode': {
        const at = index.get(op.id);
        if (at === undefined)
          throw inapplicable('absent-node', `${field} removes node ${op.id}, which is not in the netmap`, `${field}.id`);
        own().delete(op.id);
        removed.add(at);
        return;
      }
      case 'set':
        out.set(op.member, op.value);
        return;
      case 'delete':
        if (!out.has(op.member))
          throw inapplicable('absent-member', `${field} deletes ${op.member}, which is not in the netmap`, `${field}.member`);
        out.delete(op.member);
        return;
      default:
        throw inapplicable('bad-op', `${field}: unknown operation`, `${field}.op`);
    }
  });
  out.set('version', delta.version);
  const result = removed.size === 0 ? nodes : nodes.filter((_, i) => !removed.has(i));
  // Frozen, so the next delta on this map can start from this index (positions stay valid
  // without removals).
  Object.freeze(result);
  if (removed.size === 0) indexes.set(result, index);
  out.set('nodes', result);
  return Object.fromEntries(out) as unknown as Netmap;
}

/** Node id -> position, per frozen nodes array (it cannot change behind the index). */
const indexes = new WeakMap<readonly NetmapNode[], Map<string, number>>();

function indexOf(nodes: readonly NetmapNode[]): Map<string, number> {
  const cached = indexes.get(nodes);
  if (cached) return cached;
  const index = new Map<string, number>();
  nodes.forEach((n, i) => index.set(n.id, i));
  if (Object.isFrozen(nodes)) indexes.set(nodes, index);
  return index;
}

/**
 * The delta that turns `base` into `next`, or `undefined` when no delta reproduces `next`
 * exactly (e.g. nodes reordered): the sender then sends the full netmap. Nodes are compared by
 * id (JSON-equal nodes produce no operation); new nodes must come after every kept node, in
 * `next`'s order. The digests are computed here unless given.
 */
export function computeNetmapDelta(base: Netmap, next: Netmap, digests: { base?: string; next?: string } = {}): NetmapDelta | undefined {
  if (!(next.version > base.version)) return undefined;
  const ops: NetmapDeltaOp[] = [];
  const nextIds = new Set(next.nodes.map((n) => n.id));
  const baseById = new Map(base.nodes.map((n) => [n.id, n]));
  for (const n of base.nodes) if (!nextIds.has(n.id)) ops.push({ op: 'removeNode', id: n.id });
  // Kept nodes must stay in base order, new ones follow them.
  const kept = base.nodes.filter((n) => nextIds.has(n.id)).map((n) => n.id);
  let k = 0;
  let sawNew = false;
  for (const n of next.nodes) {
    const old = baseById.get(n.id);
    if (!old) {
      sawNew = true;
      ops.push({ op: 'upsertNode', node: n });
      continue;
    }
    if (sawNew || kept[k++] !== n.id) return undefined;
    if (!jsonEqual(old, n)) ops.push({ op: 'upsertNode', node: n });
  }
  const b = base as unknown as Record<string, unknown>;
  const x = next as unknown as Record<string, unknown>;
  for (const key of Object.keys(x)) {
    if (key === 'version' || key === 'nodes' || x[key] === undefined) continue;
    if (b[key] === undefined || !jsonEqual(b[key], x[key])) ops.push({ op: 'set', member: key, value: x[key] });
  }
  for (const key of Object.keys(b)) {
    if (key === 'version' || key === 'nodes' || b[key] === undefined) continue;
    if (x[key] === undefined) ops.push({ op: 'delete', member: key });
  }
  return {
    kind: 'netmap-delta',
    baseVersion: base.version,
    baseDigest: digests.base ?? netmapDigest(base),
    version: next.version,
    digest: digests.next ?? netmapDigest(next),
    ops,
  };
}
