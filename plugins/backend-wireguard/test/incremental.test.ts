// The batch validation checks only the batch against indexes of the present peers, and coverage
// checks use cached parsed prefixes (docs/performance.md). These tests hold them to the
// straightforward versions: re-check the whole resulting peer set, BigInt prefixes.
import { expect } from 'chai';
import fc from 'fast-check';
import type { PeerConfig } from '@rustynet/plugin-api';
import { cidrContains, cidrKey, hostBitsZero, parseCidr, parsePrefix, prefixContains, prefixHostBitsZero } from '../src/cidr.js';
import { buildPeerIndex, updatePeerIndex, validatePeerBatch } from '../src/validate.js';
import { caught, randomPublicKey } from './support/keys.js';

const KEYS = Array.from({ length: 5 }, () => randomPublicKey());
const PREFIXES = ['100.64.0.1/32', '100.64.0.2/32', '100.64.0.3/32', '10.0.0.0/8', 'fd00::1/128', 'fd00:0::1/128', '::/0'];
const IDS = ['a', 'b', 'c', 'd', 'e'];

/** Reference: the resulting peer set must have unique keys and prefixes (the check before the index). */
function referenceConflict(current: Map<string, PeerConfig>, upsert: PeerConfig[], remove: string[], own: string): string | undefined {
  const removed = new Set(remove);
  const next: Array<{ config: PeerConfig; field: string }> = [];
  for (const [id, c] of current) if (!removed.has(id) && !upsert.some((u) => u.id === id)) next.push({ config: c, field: `peer ${id}` });
  upsert.forEach((u, i) => next.push({ config: u, field: `upsert[${i}]` }));
  const byKey = new Map<string, string>();
  const byPrefix = new Map<string, string>();
  for (const { config, field } of next) {
    if (config.publicKey === own) return `${field}.publicKey`;
    if (byKey.has(config.publicKey)) return `${field}.publicKey`;
    byKey.set(config.publicKey, config.id);
    for (let j = 0; j < config.allowedIps.length; j++) {
      const k = cidrKey(parseCidr(config.allowedIps[j]!)!);
      if (byPrefix.has(k)) return `${field}.allowedIps[${j}]`;
      byPrefix.set(k, config.id);
    }
  }
  return undefined;
}

/** A consistent current peer set from a random assignment. */
function consistentSet(assign: Array<{ key: number; prefixes: number[] }>): Map<string, PeerConfig> {
  const out = new Map<string, PeerConfig>();
  const usedKeys = new Set<number>();
  const usedPrefixes = new Set<string>();
  assign.forEach((a, i) => {
    if (usedKeys.has(a.key)) return;
    const ips = a.prefixes.map((p) => PREFIXES[p]!).filter((p) => !usedPrefixes.has(cidrKey(parsePrefix(p)!)));
    const uniq = [...new Map(ips.map((p) => [cidrKey(parsePrefix(p)!), p])).values()];
    if (uniq.length === 0) return;
    usedKeys.add(a.key);
    for (const p of uniq) usedPrefixes.add(cidrKey(parsePrefix(p)!));
    out.set(IDS[i]!, { id: IDS[i]!, publicKey: KEYS[a.key]!, allowedIps: uniq });
  });
  return out;
}

describe('incremental peer batch validation', () => {
  const entry = fc.record({ key: fc.integer({ min: 0, max: 4 }), prefixes: fc.uniqueArray(fc.integer({ min: 0, max: PREFIXES.length - 1 }), { minLength: 1, maxLength: 2 }) });

  it('reports the same conflict (or none) as re-checking the whole resulting set', async () => {
    const own = randomPublicKey();
    await fc.assert(
      fc.asyncProperty(
        fc.array(entry, { minLength: 0, maxLength: 5 }),
        fc.uniqueArray(fc.tuple(fc.integer({ min: 0, max: 4 }), entry), { selector: (t) => t[0], maxLength: 4 }),
        fc.uniqueArray(fc.integer({ min: 0, max: 4 }), { maxLength: 2 }),
        async (present, ups, rem) => {
          const current = consistentSet(present);
          const upsert = ups.map(([id, e]) => ({ id: IDS[id]!, publicKey: KEYS[e.key]!, allowedIps: [...new Set(e.prefixes.map((p) => PREFIXES[p]!))] }));
          // Only valid removals of peers not upserted (the other cases fail before the set check).
          const remove = rem.map((i) => IDS[i]!).filter((id) => current.has(id) && !upsert.some((u) => u.id === id));
          // Allowed IPs listed twice within one peer fail earlier, with their own message: skip.
          if (upsert.some((u) => new Set(u.allowedIps.map((a) => cidrKey(parsePrefix(a)!))).size !== u.allowedIps.length)) return;
          const want = referenceConflict(current, upsert, remove, own);
          const index = buildPeerIndex(current);
          if (want === undefined) {
            const plan = validatePeerBatch({ upsert, remove }, current, own, index);
            // The index follows the plan to the index of the resulting set.
            const next = new Map(current);
            for (const id of remove) next.delete(id);
            for (const u of upsert) next.set(u.id, u);
            updatePeerIndex(index, plan);
            const fresh = buildPeerIndex(next);
            expect([...index.byKey].sort()).to.deep.equal([...fresh.byKey].sort());
            expect([...index.byPrefix].sort()).to.deep.equal([...fresh.byPrefix].sort());
            expect([...index.prefixesOf.keys()].sort()).to.deep.equal([...fresh.prefixesOf.keys()].sort());
          } else {
            const err = await caught(() => validatePeerBatch({ upsert, remove }, current, own, index));
            expect([err.code, err.field], err.message).to.deep.equal(['INVALID_INPUT', want]);
            // Without an index (built from `current`) the answer is the same.
            const err2 = await caught(() => validatePeerBatch({ upsert, remove }, current, own));
            expect(err2.field).to.equal(want);
          }
        },
      ),
      { numRuns: 400 },
    );
  });
});

describe('Prefix (no BigInt) agrees with ParsedCidr (BigInt)', () => {
  const v4 = fc.tuple(fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 4, maxLength: 4 }), fc.integer({ min: 0, max: 32 })).map(([o, l]) => `${o.join('.')}/${l}`);
  const v6 = fc
    .tuple(fc.array(fc.integer({ min: 0, max: 0xffff }), { minLength: 8, maxLength: 8 }), fc.integer({ min: 0, max: 128 }), fc.boolean())
    .map(([g, l, compress]) => {
      const text = g.map((x) => x.toString(16)).join(':');
      return `${compress ? text.replace(/(^|:)0(:0)+(:|$)/, '::') : text}/${l}`;
    });
  const any = fc.oneof(v4, v6, fc.constantFrom('::ffff:1.2.3.4/128', '::/0', '0.0.0.0/0', 'fd00::/8', '01.2.3.4/8', '1.2.3.4/033', 'fe80::1%1/64'));

  it('same acceptance, host bits, containment and keys', () => {
    fc.assert(
      fc.property(any, any, (a, b) => {
        const pa = parsePrefix(a);
        const ca = parseCidr(a);
        expect(pa === undefined, a).to.equal(ca === undefined);
        if (!pa || !ca) return;
        expect(prefixHostBitsZero(pa), a).to.equal(hostBitsZero(ca));
        expect(pa.key).to.equal(cidrKey(ca));
        const pb = parsePrefix(b);
        const cb = parseCidr(b);
        if (!pb || !cb) return;
        expect(prefixContains(pa, pb), `${a} contains ${b}`).to.equal(cidrContains(ca, cb));
        expect(prefixContains(pb, pa), `${b} contains ${a}`).to.equal(cidrContains(cb, ca));
      }),
      { numRuns: 2000 },
    );
  });

  it('containment at word boundaries', () => {
    const c = (o: string, i: string): boolean => prefixContains(parsePrefix(o)!, parsePrefix(i)!);
    expect(c('10.0.0.0/8', '10.2.3.4/32')).to.equal(true);
    expect(c('10.0.0.0/8', '11.0.0.0/32')).to.equal(false);
    expect(c('0.0.0.0/0', '11.0.0.0/32')).to.equal(true);
    expect(c('::/0', '10.0.0.0/8')).to.equal(false);
    expect(c('fd00::/32', 'fd00:0:ffff::1/128')).to.equal(true);
    expect(c('fd00::/33', 'fd00:0:ffff::1/128')).to.equal(false);
    expect(c('fd00::1/128', 'fd00::/64')).to.equal(false);
  });
});
