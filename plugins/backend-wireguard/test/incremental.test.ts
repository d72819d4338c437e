// The batch validation checks only the batch against indexes of the present peers, and coverage
// checks use cached parsed prefixes (docs/performance.md). These tests hold them to the
// straightforward versions: re-check the whole resulting peer set, a BigInt reference for prefixes.
import { expect } from 'chai';
import fc from 'fast-check';
import type { PeerConfig } from '@rustynet/plugin-api';
import { isIPv4, isIPv6 } from 'node:net';
import { cidrContains, hostBitsZero, parseCidr, type ParsedCidr } from '@rustynet/plugin-kit';
import { buildPeerIndex, updatePeerIndex, validatePeerBatch } from '../src/validate.js';
import { caught, randomPublicKey } from './support/keys.js';

/** plugin-kit's canonical key of a prefix text (the text itself when it does not parse). */
const keyOf = (text: string | undefined): string => (text === undefined ? '' : (parseCidr(text)?.key ?? text));

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
      const k = keyOf(config.allowedIps[j]);
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
    const ips = a.prefixes.map((p) => PREFIXES[p]).filter((p) => !usedPrefixes.has(keyOf(p)));
    const uniq = [...new Map(ips.map((p) => [keyOf(p), p])).values()];
    if (uniq.length === 0) return;
    usedKeys.add(a.key);
    for (const p of uniq) usedPrefixes.add(keyOf(p));
    out.set(IDS[i], { id: IDS[i], publicKey: KEYS[a.key], allowedIps: uniq });
  });
  return out;
}

describe('incremental peer batch validation', () => {
  const entry = fc.record({
    key: fc.integer({ min: 0, max: 4 }),
    prefixes: fc.uniqueArray(fc.integer({ min: 0, max: PREFIXES.length - 1 }), { minLength: 1, maxLength: 2 }),
  });

  it('reports the same conflict (or none) as re-checking the whole resulting set', async () => {
    const own = randomPublicKey();
    await fc.assert(
      fc.asyncProperty(
        fc.array(entry, { minLength: 0, maxLength: 5 }),
        fc.uniqueArray(fc.tuple(fc.integer({ min: 0, max: 4 }), entry), { selector: (t) => t[0], maxLength: 4 }),
        fc.uniqueArray(fc.integer({ min: 0, max: 4 }), { maxLength: 2 }),
        async (present, ups, rem) => {
          const current = consistentSet(present);
          const upsert = ups.map(([id, e]) => ({
            id: IDS[id],
            publicKey: KEYS[e.key],
            allowedIps: [...new Set(e.prefixes.map((p) => PREFIXES[p]))],
          }));
          // Only valid removals of peers not upserted (the other cases fail before the set check).
          const remove = rem.map((i) => IDS[i]).filter((id) => current.has(id) && !upsert.some((u) => u.id === id));
          // Allowed IPs listed twice within one peer fail earlier, with their own message: skip.
          if (upsert.some((u) => new Set(u.allowedIps.map((a) => keyOf(a))).size !== u.allowedIps.length)) return;
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

/** Reference parse: acceptance by node:net and a strict length, the address as a BigInt. */
function refCidr(text: string): { family: 4 | 6; value: bigint; len: number } | undefined {
  const slash = text.indexOf('/');
  if (slash < 0) return undefined;
  const addr = text.slice(0, slash);
  const lenText = text.slice(slash + 1);
  if (!/^(0|[1-9]\d{0,2})$/.test(lenText)) return undefined;
  const len = Number(lenText);
  if (isIPv4(addr))
    return len > 32 ? undefined : { family: 4, value: addr.split('.').reduce((a, p) => (a << 8n) | BigInt(Number(p)), 0n), len };
  if (!isIPv6(addr) || addr.includes('%') || len > 128) return undefined;
  let t = addr;
  const v4 = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(t);
  if (v4)
    t = `${t.slice(0, -v4[0].length)}${((Number(v4[1]) << 8) | Number(v4[2])).toString(16)}:${((Number(v4[3]) << 8) | Number(v4[4])).toString(16)}`;
  const [h, tl] = t.includes('::') ? t.split('::') : [t, undefined];
  const head = h ? h.split(':') : [];
  const tail = tl ? tl.split(':') : [];
  const groups = [...head, ...Array<string>(8 - head.length - tail.length).fill('0'), ...tail];
  return { family: 6, value: groups.reduce((a, g) => (a << 16n) | BigInt(parseInt(g, 16)), 0n), len };
}

function refContains(o: { family: 4 | 6; value: bigint; len: number }, i: { family: 4 | 6; value: bigint; len: number }): boolean {
  if (o.family !== i.family || o.len > i.len) return false;
  const shift = BigInt((o.family === 4 ? 32 : 128) - o.len);
  return o.value >> shift === i.value >> shift;
}

describe('plugin-kit prefixes agree with a BigInt reference', () => {
  const v4 = fc
    .tuple(fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 4, maxLength: 4 }), fc.integer({ min: 0, max: 32 }))
    .map(([o, l]) => `${o.join('.')}/${l}`);
  const v6 = fc
    .tuple(fc.array(fc.integer({ min: 0, max: 0xffff }), { minLength: 8, maxLength: 8 }), fc.integer({ min: 0, max: 128 }), fc.boolean())
    .map(([g, l, compress]) => {
      const text = g.map((x) => x.toString(16)).join(':');
      return `${compress ? text.replace(/(^|:)0(:0)+(:|$)/, '::') : text}/${l}`;
    });
  const any = fc.oneof(
    v4,
    v6,
    fc.constantFrom('::ffff:1.2.3.4/128', '::/0', '0.0.0.0/0', 'fd00::/8', '01.2.3.4/8', '1.2.3.4/033', 'fe80::1%1/64'),
  );

  it('same acceptance, host bits, containment and keys', () => {
    fc.assert(
      fc.property(any, any, (a, b) => {
        const pa = parseCidr(a);
        const ra = refCidr(a);
        expect(pa === undefined, a).to.equal(ra === undefined);
        if (!pa || !ra) return;
        const mask = (1n << BigInt((ra.family === 4 ? 32 : 128) - ra.len)) - 1n;
        expect(hostBitsZero(pa), a).to.equal((ra.value & mask) === 0n);
        expect(pa.address).to.equal(ra.value);
        const pb = parseCidr(b);
        const rb = refCidr(b);
        if (!pb || !rb) return;
        expect(pa.key === pb.key, `${a} key vs ${b}`).to.equal(ra.family === rb.family && ra.value === rb.value && ra.len === rb.len);
        expect(cidrContains(pa, pb), `${a} contains ${b}`).to.equal(refContains(ra, rb));
        expect(cidrContains(pb, pa), `${b} contains ${a}`).to.equal(refContains(rb, ra));
      }),
      { numRuns: 2000 },
    );
  });

  it('containment at word boundaries', () => {
    const c = (o: string, i: string): boolean => cidrContains(parseCidr(o) as ParsedCidr, parseCidr(i) as ParsedCidr);
    expect(c('10.0.0.0/8', '10.2.3.4/32')).to.equal(true);
    expect(c('10.0.0.0/8', '11.0.0.0/32')).to.equal(false);
    expect(c('0.0.0.0/0', '11.0.0.0/32')).to.equal(true);
    expect(c('::/0', '10.0.0.0/8')).to.equal(false);
    expect(c('fd00::/32', 'fd00:0:ffff::1/128')).to.equal(true);
    expect(c('fd00::/33', 'fd00:0:ffff::1/128')).to.equal(false);
    expect(c('fd00::1/128', 'fd00::/64')).to.equal(false);
  });
});
