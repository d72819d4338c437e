import { expect } from 'chai';
import { createPublicKey } from 'node:crypto';
import type { Netmap, NetmapDelta, SignedNetmapDelta } from '@rustynet/plugin-api';
import {
  applyNetmapDelta,
  applySignedNetmapDelta,
  computeNetmapDelta,
  generateEd25519KeyPair,
  isDeltaEnvelope,
  netmapDigest,
  signNetmap,
  signNetmapDelta,
  verifyDeltaDerived,
  verifySignedNetmapBytes,
} from '../src/index.js';
import { canonicalJsonBytes, sha256Hex } from '../src/util/json.js';
import { makeNetmap, makeNode } from './helpers.js';

const cp = generateEd25519KeyPair();
const key = createPublicKey(cp.privateKeyPem);
const other = generateEd25519KeyPair();

function next(base: Netmap, change: (nm: Netmap) => void): Netmap {
  const nm = structuredClone(base);
  nm.version = base.version + 1;
  change(nm);
  return nm;
}

function codeOf(fn: () => unknown): { code?: string | undefined; field?: string | undefined; reason?: unknown } {
  try {
    fn();
  } catch (err) {
    const e = err as { code?: string; field?: string; details?: { reason?: unknown } };
    return { code: e.code, field: e.field, reason: e.details?.reason };
  }
  return {};
}

describe('netmap deltas', () => {
  const base = makeNetmap(20, 5);
  const baseTrusted = { netmap: base, digest: netmapDigest(base) };
  const now = Date.now();

  it('the digest is SHA-256 over the bytes a netmap signature covers', () => {
    expect(baseTrusted.digest).to.equal(sha256Hex(canonicalJsonBytes(base)));
    expect(baseTrusted.digest).to.equal(sha256Hex(verifySignedNetmapBytes(signNetmap(base, cp.privateKeyPem), key).canonical));
  });

  it('the digest with a node cache is the canonical one, and cached nodes cannot change', () => {
    const cache = new WeakMap<object, Buffer>();
    const nm = structuredClone(base);
    expect(netmapDigest(nm, cache)).to.equal(baseTrusted.digest);
    expect(netmapDigest(nm, cache)).to.equal(baseTrusted.digest);
    expect(() => {
      nm.nodes[0].endpoints[0].port = 1;
    }).to.throw(TypeError);
    const changed = { ...nm, nodes: [...nm.nodes.slice(1), makeNode(90)] };
    expect(netmapDigest(changed, cache)).to.equal(sha256Hex(canonicalJsonBytes(changed)));
    // Non-ASCII text: the hashed (and `out`) bytes are the UTF-8 canonical JSON.
    const wide = { ...changed, network: 'netz-\u00fc-\u{1F600}', nodes: [...changed.nodes, makeNode(91, { id: 'n\u00e9' })] };
    const out: Buffer[] = [];
    expect(netmapDigest(wide, cache, out)).to.equal(sha256Hex(canonicalJsonBytes(wide)));
    expect(Buffer.concat(out).equals(Buffer.from(canonicalJsonBytes(wide)))).to.equal(true);
  });

  it('a one-peer change is one operation and reproduces the next map exactly', () => {
    const nm = next(base, (m) => (m.nodes[3].endpoints = [{ host: '198.18.9.9', port: 4000 }]));
    const delta = computeNetmapDelta(base, nm)!;
    expect(delta.ops).to.deep.equal([{ op: 'upsertNode', node: nm.nodes[3] }]);
    const out = applyNetmapDelta(base, delta);
    expect(netmapDigest(out)).to.equal(delta.digest).and.to.equal(netmapDigest(nm));
    expect(out.nodes[4]).to.equal(base.nodes[4]); // unchanged nodes are shared, not copied
    expect(base.nodes[3].endpoints[0].port).to.equal(51820); // the base is not modified
  });

  it('covers adds, removals and top-level members (expiry, ACL, DNS, relays), set and deleted', () => {
    const withAcl = next(base, (m) => {
      m.acl = { rules: [{ action: 'accept', src: ['*'], dst: ['*'] }] } as unknown as NonNullable<Netmap['acl']>;
      m.dns = { zone: 'mesh.test' };
    });
    const nm = next(withAcl, (m) => {
      m.nodes.splice(2, 1);
      m.nodes.push(makeNode(40), makeNode(41));
      m.expiresAt = new Date(now + 7200_000).toISOString();
      delete m.dns;
      m.relays = [{ id: 'r1', endpoint: { host: '198.18.50.1', port: 3478 } }];
    });
    const delta = computeNetmapDelta(withAcl, nm)!;
    expect(delta.ops.map((o) => o.op).sort()).to.deep.equal(['delete', 'removeNode', 'set', 'set', 'upsertNode', 'upsertNode']);
    expect(netmapDigest(applyNetmapDelta(withAcl, delta))).to.equal(netmapDigest(nm));
  });

  it('gives up (full map) when the node order changed', () => {
    const nm = next(base, (m) => m.nodes.reverse());
    expect(computeNetmapDelta(base, nm)).to.equal(undefined);
    expect(computeNetmapDelta(nm, base)).to.equal(undefined); // not newer
  });

  describe('signed, applied to the last good map', () => {
    const nm = next(base, (m) => (m.nodes[1].endpoints = [{ host: '198.18.7.7', port: 4001 }]));
    const delta = computeNetmapDelta(base, nm)!;
    const signed = signNetmapDelta(delta, cp.privateKeyPem);
    const resign = (d: NetmapDelta): SignedNetmapDelta => signNetmapDelta(d, cp.privateKeyPem);

    it('applies and yields what to persist; the persisted form re-verifies', () => {
      expect(isDeltaEnvelope(signed)).to.equal(true);
      expect(isDeltaEnvelope(signNetmap(base, cp.privateKeyPem))).to.equal(false);
      const r = applySignedNetmapDelta(JSON.parse(JSON.stringify(signed)), key, baseTrusted, now);
      expect(r.netmap.version).to.equal(6);
      expect(r.digest).to.equal(netmapDigest(nm));
      const back = verifyDeltaDerived(JSON.parse(JSON.stringify(r.derived)), key, now);
      expect(back.digest).to.equal(r.digest);
      // The persisted text (canonical JSON of the map, no second serialisation) is the same value.
      expect(JSON.parse(r.text)).to.deep.equal(JSON.parse(JSON.stringify(r.derived)));
      expect(verifyDeltaDerived(JSON.parse(r.text), key, now).digest).to.equal(r.digest);
    });

    it('a persisted derived map that was edited does not verify', () => {
      const r = applySignedNetmapDelta(signed, key, baseTrusted, now);
      const edited = JSON.parse(JSON.stringify(r.derived));
      edited.netmap.nodes[0].endpoints[0].port = 1;
      expect(codeOf(() => verifyDeltaDerived(edited, key, now))).to.include({ code: 'NETMAP_DELTA_INAPPLICABLE', reason: 'digest' });
      const bumped = JSON.parse(JSON.stringify(r.derived));
      bumped.netmap.version = 7;
      expect(codeOf(() => verifyDeltaDerived(bumped, key, now)).code).to.equal('NETMAP_DELTA_INAPPLICABLE');
    });

    const hostile: Array<[string, () => unknown, { code: string; reason?: string; field?: string }]> = [
      [
        'no base applied yet',
        () => applySignedNetmapDelta(signed, key, undefined, now),
        { code: 'NETMAP_DELTA_INAPPLICABLE', reason: 'no-base' },
      ],
      [
        'signed by another key',
        () => applySignedNetmapDelta(signNetmapDelta(delta, other.privateKeyPem), key, baseTrusted, now),
        { code: 'NETMAP_SIGNATURE_INVALID', field: 'signature.value' },
      ],
      [
        'a changed byte after signing',
        () => applySignedNetmapDelta({ ...signed, delta: { ...delta, version: 7 } }, key, baseTrusted, now),
        { code: 'NETMAP_SIGNATURE_INVALID' },
      ],
      ['not an envelope', () => applySignedNetmapDelta({ delta, signature: 'x' }, key, baseTrusted, now), { code: 'NETMAP_INVALID' }],
      [
        'an extra envelope member',
        () => applySignedNetmapDelta({ ...signed, netmap2: {} }, key, baseTrusted, now),
        { code: 'NETMAP_INVALID' },
      ],
      [
        'a signed full netmap as the payload',
        () => {
          const s = signNetmap(base, cp.privateKeyPem);
          return applySignedNetmapDelta({ delta: s.netmap, signature: s.signature }, key, baseTrusted, now);
        },
        { code: 'NETMAP_INVALID' },
      ],
      [
        'an unknown operation',
        () => applySignedNetmapDelta(resign({ ...delta, ops: [{ op: 'eval', code: 'x' } as never] }), key, baseTrusted, now),
        { code: 'NETMAP_INVALID' },
      ],
      [
        'a set of __proto__',
        () =>
          applySignedNetmapDelta(
            resign({ ...delta, ops: [{ op: 'set', member: '__proto__', value: { polluted: 1 } }] }),
            key,
            baseTrusted,
            now,
          ),
        { code: 'NETMAP_INVALID' },
      ],
      [
        'a set of version',
        () => applySignedNetmapDelta(resign({ ...delta, ops: [{ op: 'set', member: 'version', value: 99 }] }), key, baseTrusted, now),
        { code: 'NETMAP_INVALID' },
      ],
      [
        'a base version that is not the applied one',
        () => applySignedNetmapDelta(resign({ ...delta, baseVersion: 4 }), key, baseTrusted, now),
        { code: 'NETMAP_DELTA_INAPPLICABLE', reason: 'base-version', field: 'delta.baseVersion' },
      ],
      [
        'a base digest that is not the applied one',
        () => applySignedNetmapDelta(resign({ ...delta, baseDigest: 'a'.repeat(64) }), key, baseTrusted, now),
        { code: 'NETMAP_DELTA_INAPPLICABLE', reason: 'base-digest', field: 'delta.baseDigest' },
      ],
      [
        'a version not above the base',
        () => applySignedNetmapDelta(resign({ ...delta, version: 5 }), key, baseTrusted, now),
        { code: 'NETMAP_DELTA_INAPPLICABLE', reason: 'version' },
      ],
      [
        'a result digest that does not match',
        () => applySignedNetmapDelta(resign({ ...delta, digest: 'b'.repeat(64) }), key, baseTrusted, now),
        { code: 'NETMAP_DELTA_INAPPLICABLE', reason: 'digest', field: 'delta.digest' },
      ],
      [
        'removal of an absent node',
        () => applySignedNetmapDelta(resign({ ...delta, ops: [{ op: 'removeNode', id: 'nope' }] }), key, baseTrusted, now),
        { code: 'NETMAP_DELTA_INAPPLICABLE', reason: 'absent-node', field: 'delta.ops[0].id' },
      ],
      [
        'deletion of an absent member',
        () => applySignedNetmapDelta(resign({ ...delta, ops: [{ op: 'delete', member: 'acl' }] }), key, baseTrusted, now),
        { code: 'NETMAP_DELTA_INAPPLICABLE', reason: 'absent-member' },
      ],
    ];
    for (const [what, fn, want] of hostile) {
      it(`refuses ${what}`, () => {
        expect(codeOf(fn)).to.include(want);
      });
    }

    /** A delta whose signed digest matches its result, but the result itself is bad. */
    function honest(change: (m: Netmap) => void): SignedNetmapDelta {
      const bad = next(base, change);
      const ops = computeNetmapDelta(base, bad)!.ops;
      return resign({ ...delta, ops, digest: netmapDigest(bad) });
    }

    it('checks the result like a full map: schema (naming the field), semantics, expiry', () => {
      expect(
        codeOf(() =>
          applySignedNetmapDelta(
            honest((m) => (m.nodes[2].addresses = ['not-a-cidr'])),
            key,
            baseTrusted,
            now,
          ),
        ),
      ).to.include({
        code: 'NETMAP_INVALID',
      });
      expect(
        codeOf(() =>
          applySignedNetmapDelta(
            honest((m) => (m.nodes[2].addresses = [...m.nodes[3].addresses])),
            key,
            baseTrusted,
            now,
          ),
        ),
      ).to.include({ code: 'NETMAP_INVALID' });
      expect(
        codeOf(() =>
          applySignedNetmapDelta(
            honest((m) => m.nodes.push(makeNode(30, { addresses: [...m.nodes[4].addresses] }))),
            key,
            baseTrusted,
            now,
          ),
        ),
      ).to.include({ code: 'NETMAP_INVALID', field: 'nodes[20].addresses[0]' });
      expect(
        codeOf(() =>
          applySignedNetmapDelta(
            honest((m) => (m.expiresAt = new Date(now - 1).toISOString())),
            key,
            baseTrusted,
            now,
          ),
        ),
      ).to.include({ code: 'NETMAP_EXPIRED' });
      expect(
        codeOf(() =>
          applySignedNetmapDelta(
            honest((m) => ((m as unknown as Record<string, unknown>).extra = 1)),
            key,
            baseTrusted,
            now,
          ),
        ),
      ).to.include({ code: 'NETMAP_INVALID' });
    });

    it('never modifies the base, whatever it refuses', () => {
      const before = JSON.stringify(base);
      for (const [, fn] of hostile) codeOf(fn);
      expect(JSON.stringify(base)).to.equal(before);
      expect(({} as Record<string, unknown>).polluted).to.equal(undefined);
    });
  });
});
