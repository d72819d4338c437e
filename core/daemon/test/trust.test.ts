import { expect } from 'chai';
import { isRustynetError, type Netmap } from '@rustynet/plugin-api';
import { generateEd25519KeyPair } from '../src/services/key-store.js';
import { signNetmap } from '../src/trust/sign.js';
import { verifySignedNetmap } from '../src/trust/verify.js';
import { makeNetmap, makeNode } from './helpers.js';

function expectCode(fn: () => unknown, code: string, field?: string): void {
  try {
    fn();
  } catch (err) {
    expect(isRustynetError(err), String(err)).to.equal(true);
    expect((err as { code: string }).code, (err as Error).message).to.equal(code);
    if (field !== undefined) expect((err as { field?: string }).field).to.equal(field);
    return;
  }
  expect.fail(`expected ${code}`);
}

describe('netmap signing and verification', () => {
  const cp = generateEd25519KeyPair();
  const now = Date.parse('2026-01-01T00:00:00Z');

  function signed(mutate?: (n: Netmap) => void) {
    const nm = makeNetmap(3, 1, now);
    mutate?.(nm);
    return signNetmap(nm, cp.privateKeyPem);
  }

  it('verifies a good signature and returns the netmap', () => {
    const s = signed();
    expect(s.signature.alg).to.equal('Ed25519');
    expect(s.signature.keyId).to.match(/^[0-9a-f]{16}$/);
    const nm = verifySignedNetmap(JSON.parse(JSON.stringify(s)), cp.publicKeyB64, { now });
    expect(nm.nodes.map((n) => n.id)).to.deep.equal(['n0', 'n1', 'n2']);
  });

  it('is independent of key order (RFC 8785 canonical JSON)', () => {
    const s = signed();
    const reordered = { signature: s.signature, netmap: Object.fromEntries(Object.entries(s.netmap).reverse()) };
    expect(() => verifySignedNetmap(reordered, cp.publicKeyB64, { now })).not.to.throw();
  });

  it('rejects a tampered byte', () => {
    const s = signed();
    const text = JSON.stringify(s).replace('100.64.0.2/32', '100.64.0.9/32');
    expectCode(() => verifySignedNetmap(JSON.parse(text), cp.publicKeyB64, { now }), 'NETMAP_SIGNATURE_INVALID');
  });

  it('rejects a tampered signature', () => {
    const s = signed();
    const sig = Buffer.from(s.signature.value, 'base64');
    sig[5] = sig[5] ^ 1;
    expectCode(
      () => verifySignedNetmap({ ...s, signature: { ...s.signature, value: sig.toString('base64') } }, cp.publicKeyB64, { now }),
      'NETMAP_SIGNATURE_INVALID',
    );
  });

  it('rejects a map signed with another key', () => {
    const other = generateEd25519KeyPair();
    const s = signNetmap(makeNetmap(2, 1, now), other.privateKeyPem);
    expectCode(() => verifySignedNetmap(s, cp.publicKeyB64, { now }), 'NETMAP_SIGNATURE_INVALID');
  });

  it('rejects an expired map', () => {
    const s = signed();
    expectCode(() => verifySignedNetmap(s, cp.publicKeyB64, { now: now + 3600_000 + 1 }), 'NETMAP_EXPIRED', 'expiresAt');
  });

  it('rejects issuedAt beyond the 60 s skew, accepts within', () => {
    const future = signed((n) => {
      n.issuedAt = new Date(now + 120_000).toISOString();
    });
    expectCode(() => verifySignedNetmap(future, cp.publicKeyB64, { now }), 'NETMAP_EXPIRED', 'issuedAt');
    const slight = signed((n) => {
      n.issuedAt = new Date(now + 30_000).toISOString();
    });
    expect(() => verifySignedNetmap(slight, cp.publicKeyB64, { now })).not.to.throw();
  });

  it('rejects a malformed envelope before checking the signature', () => {
    expectCode(() => verifySignedNetmap({ netmap: {} }, cp.publicKeyB64, { now }), 'NETMAP_INVALID', 'signature');
    expectCode(() => verifySignedNetmap('nope', cp.publicKeyB64, { now }), 'NETMAP_INVALID');
  });

  it('rejects a correctly signed map that fails the netmap schema, naming the field', () => {
    const s = signed((n) => {
      (n.nodes[1] as { id: string }).id = 'Bad_ID';
    });
    expectCode(() => verifySignedNetmap(s, cp.publicKeyB64, { now }), 'NETMAP_INVALID', 'nodes[1].id');
  });

  it('semantic checks: duplicate ids, host bits, non-host addresses, shared addresses', () => {
    expectCode(
      () =>
        verifySignedNetmap(
          signed((n) => n.nodes.push({ ...makeNode(0) })),
          cp.publicKeyB64,
          { now },
        ),
      'NETMAP_INVALID',
      'nodes[3].id',
    );
    expectCode(
      () =>
        verifySignedNetmap(
          signed((n) => (n.nodes[0].routes = ['10.1.2.3/16'])),
          cp.publicKeyB64,
          { now },
        ),
      'NETMAP_INVALID',
      'nodes[0].routes[0]',
    );
    expectCode(
      () =>
        verifySignedNetmap(
          signed((n) => (n.nodes[2].addresses = ['100.64.0.0/24'])),
          cp.publicKeyB64,
          { now },
        ),
      'NETMAP_INVALID',
      'nodes[2].addresses[0]',
    );
    expectCode(
      () =>
        verifySignedNetmap(
          signed((n) => (n.nodes[2].addresses = ['100.64.0.1/32'])),
          cp.publicKeyB64,
          { now },
        ),
      'NETMAP_INVALID',
      'nodes[2].addresses[0]',
    );
    expectCode(
      () =>
        verifySignedNetmap(
          signed((n) => (n.nodes[1].routes = ['fd00:1::1/64'])),
          cp.publicKeyB64,
          { now },
        ),
      'NETMAP_INVALID',
      'nodes[1].routes[0]',
    );
    expect(() =>
      verifySignedNetmap(
        signed((n) => (n.nodes[1].routes = ['10.0.0.0/8', 'fd00:1::/64', '0.0.0.0/0'])),
        cp.publicKeyB64,
        { now },
      ),
    ).not.to.throw();
  });

  it('refuses a malformed control-plane key', () => {
    expectCode(() => verifySignedNetmap(signed(), 'AAAA', { now }), 'KEY_INVALID');
  });
});
