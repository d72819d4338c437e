/**
 * Node key rotation and node key expiry on the control plane, on each engine: hostile rotation
 * requests (bad proof, replay, a key another node holds, malformed bodies) change nothing; a
 * good one swaps the keys in the next netmap; expired keys drop the node out of netmaps with a
 * clear error and re-enrolment brings it back.
 */
import { expect } from 'chai';
import { sign } from 'node:crypto';
import { generateEd25519KeyPair, privateKeyFromPem, verifySignedNetmap } from '@rustynet/daemon';
import { isRustynetError } from '@rustynet/plugin-api';
import { rotateSigningBytes } from '../src/nodes/rotate-request.js';
import { applyKeyExpiry, keyExpiryDue } from '../src/nodes/key-expiry.js';
import { signRequest } from '../src/auth/request-signature.js';
import { ControlClient } from '../src/index.js';
import type { Snapshot } from '../src/store/types.js';
import { codeOf, createKey, ENGINES, startHarness, type Harness } from './helpers.js';

function rawKey(pem: string): string {
  return new ControlClient({ url: 'http://127.0.0.1:1', identityKeyPem: pem }).identityKey;
}

async function enrolled(h: Harness, name: string, backendKey: string): Promise<{ client: ControlClient; pem: string }> {
  const pem = generateEd25519KeyPair().privateKeyPem;
  const client = new ControlClient({ url: h.server.url, identityKeyPem: pem });
  await client.enrol({ authKey: await createKey(h.admin), name, keys: { 'proto-a': backendKey } });
  return { client, pem };
}

async function nodes(
  h: Harness,
): Promise<Array<{ id: string; identityKey: string; expired: boolean; keyExpiresAt?: string; expiredBy?: string }>> {
  return ((await h.admin.call('GET', '/admin/v1/nodes')) as { nodes: Array<{ id: string; identityKey: string; expired: boolean }> }).nodes;
}

for (const engine of ENGINES) {
  describe(`control: node key rotation [${engine}]`, function () {
    this.timeout(20_000);
    let h: Harness;
    beforeEach(async () => {
      h = await startHarness({ engine });
    });
    afterEach(async () => {
      await h.stop();
    });

    it('swaps identity and backend key; peers see the new key; the old identity stops working', async () => {
      const a = await enrolled(h, 'alpha', 'key-a1');
      const b = await enrolled(h, 'beta', 'key-b1');
      const before = h.server.service.snapshot.version;
      const oldId = a.client.identityKey;
      const next = generateEd25519KeyPair().privateKeyPem;
      const r = await a.client.rotateKeys(next, { 'proto-a': 'key-a2' });
      expect(r.nodeId).to.equal('alpha');
      expect(r.version).to.be.above(before);
      expect(a.client.identityKey).to.equal(rawKey(next));
      const nm = verifySignedNetmap(await b.client.poll(0), h.server.service.key.publicKey);
      const alpha = nm.nodes.find((n) => n.id === 'alpha');
      expect(alpha?.keys).to.deep.equal({ 'proto-a': 'key-a2' });
      expect(alpha?.identityKey).to.equal(rawKey(next));
      expect(await a.client.poll(0, { waitMs: 0 })).to.not.equal(null);
      const stale = new ControlClient({ url: h.server.url, identityKeyPem: a.pem });
      expect(stale.identityKey).to.equal(oldId);
      expect(await codeOf(stale.poll(0, { waitMs: 0 }))).to.equal('UNKNOWN_PEER');
    });

    it('refuses a bad proof, a key another node holds, the same identity and malformed bodies: nothing changes', async () => {
      const a = await enrolled(h, 'alpha', 'key-a1');
      const b = await enrolled(h, 'beta', 'key-b1');
      const snapBefore = JSON.stringify(await nodes(h));
      const version = h.server.service.snapshot.version;
      // Proof by a key other than the new identity.
      const path = '/v1/node/rotate-keys';
      const post = async (
        body: unknown,
        key = a.pem,
        id = a.client.identityKey,
      ): Promise<{ status: number; code: string; field?: string }> => {
        const text = JSON.stringify(body);
        const res = await fetch(`${h.server.url}${path}`, {
          method: 'POST',
          body: text,
          headers: signRequest(privateKeyFromPem(key), id, 'POST', path, text),
        });
        const j = (await res.json()) as { error?: { code: string; field?: string; details?: { reason?: string } } };
        return {
          status: res.status,
          code: `${j.error?.code ?? 'OK'}${j.error?.details?.reason ? `:${j.error.details.reason}` : ''}`,
          ...(j.error?.field !== undefined && { field: j.error.field }),
        };
      };
      const next = generateEd25519KeyPair().privateKeyPem;
      const other = generateEd25519KeyPair().privateKeyPem;
      const fields = { oldIdentityKey: a.client.identityKey, newIdentityKey: rawKey(next), keys: { 'proto-a': 'key-a2' } };
      const badProof = sign(null, rotateSigningBytes(fields), privateKeyFromPem(other)).toString('base64');
      expect(await post({ newIdentityKey: fields.newIdentityKey, keys: fields.keys, proof: badProof })).to.deep.include({
        status: 401,
        code: 'AUTH_FAILED:rotation-proof-invalid',
      });
      // A proof made for other keys than sent.
      const proofOther = sign(null, rotateSigningBytes({ ...fields, keys: { 'proto-a': 'zzz' } }), privateKeyFromPem(next)).toString(
        'base64',
      );
      expect((await post({ newIdentityKey: fields.newIdentityKey, keys: fields.keys, proof: proofOther })).code).to.equal(
        'AUTH_FAILED:rotation-proof-invalid',
      );
      // Request signed by someone else than the old identity.
      const good = sign(null, rotateSigningBytes(fields), privateKeyFromPem(next)).toString('base64');
      expect((await post({ newIdentityKey: fields.newIdentityKey, keys: fields.keys, proof: good }, other)).code).to.equal(
        'AUTH_FAILED:signature-invalid',
      );
      // New identity already held by beta.
      expect(await codeOf(a.client.rotateKeys(b.pem, { 'proto-a': 'key-a2' }))).to.equal('INVALID_INPUT');
      // New backend key already held by beta.
      const clash = await post({
        newIdentityKey: fields.newIdentityKey,
        keys: { 'proto-a': 'key-b1' },
        proof: sign(null, rotateSigningBytes({ ...fields, keys: { 'proto-a': 'key-b1' } }), privateKeyFromPem(next)).toString('base64'),
      });
      expect(clash).to.deep.include({ status: 400, code: 'INVALID_INPUT', field: 'keys.proto-a' });
      // The same identity again.
      expect(await codeOf(a.client.rotateKeys(a.pem, { 'proto-a': 'key-a2' }))).to.equal('INVALID_INPUT');
      // Malformed bodies.
      expect((await post({ newIdentityKey: 'short', keys: fields.keys, proof: good })).field).to.equal('body/newIdentityKey');
      expect((await post({ newIdentityKey: fields.newIdentityKey, keys: {}, proof: good })).field).to.equal('body/keys');
      expect((await post({ newIdentityKey: fields.newIdentityKey, keys: fields.keys, proof: good, extra: 1 })).code).to.equal(
        'INVALID_INPUT',
      );
      expect(JSON.stringify(await nodes(h))).to.equal(snapBefore);
      expect(h.server.service.snapshot.version).to.equal(version);
    });

    it('refuses a replayed rotation request (same nonce), and a replay after success finds no node', async () => {
      const a = await enrolled(h, 'alpha', 'key-a1');
      const next = generateEd25519KeyPair().privateKeyPem;
      const fields = { oldIdentityKey: a.client.identityKey, newIdentityKey: rawKey(next), keys: { 'proto-a': 'key-a2' } };
      const text = JSON.stringify({
        newIdentityKey: fields.newIdentityKey,
        keys: fields.keys,
        proof: sign(null, rotateSigningBytes(fields), privateKeyFromPem(next)).toString('base64'),
      });
      const headers = signRequest(privateKeyFromPem(a.pem), a.client.identityKey, 'POST', '/v1/node/rotate-keys', text);
      const send = (): Promise<Response> => fetch(`${h.server.url}/v1/node/rotate-keys`, { method: 'POST', body: text, headers });
      expect((await send()).status).to.equal(200);
      const again = (await (await send()).json()) as { error: { code: string } };
      expect(again.error.code).to.equal('UNKNOWN_PEER');
      // A replay of a request that failed (nonce seen) is refused as a replay.
      const b = await enrolled(h, 'beta', 'key-b1');
      const badText = JSON.stringify({ newIdentityKey: fields.newIdentityKey, keys: { 'proto-a': 'x' }, proof: `${'A'.repeat(86)}==` });
      const h2 = signRequest(privateKeyFromPem(b.pem), b.client.identityKey, 'POST', '/v1/node/rotate-keys', badText);
      const first = (await (await fetch(`${h.server.url}/v1/node/rotate-keys`, { method: 'POST', body: badText, headers: h2 })).json()) as {
        error: { details: { reason: string } };
      };
      expect(first.error.details.reason).to.equal('rotation-proof-invalid');
      const second = (await (
        await fetch(`${h.server.url}/v1/node/rotate-keys`, { method: 'POST', body: badText, headers: h2 })
      ).json()) as { error: { details: { reason: string } } };
      expect(second.error.details.reason).to.equal('nonce-replayed');
    });
  });

  describe(`control: node key expiry [${engine}]`, function () {
    this.timeout(30_000);
    let h: Harness;
    afterEach(async () => {
      await h.stop();
    });

    it("drops a node whose key expired from the others' netmaps, tells it, and takes it back after re-enrolment or rotation", async () => {
      h = await startHarness({ engine, nodeKeyLifetimeMs: 3_000 });
      const a = await enrolled(h, 'alpha', 'key-a1');
      const b = await enrolled(h, 'beta', 'key-b1');
      const listed = await nodes(h);
      expect(listed.every((n) => typeof n.keyExpiresAt === 'string')).to.equal(true);
      // beta rotates before expiry: its lifetime restarts.
      await new Promise((r) => setTimeout(r, 1_500));
      await b.client.rotateKeys(generateEd25519KeyPair().privateKeyPem, { 'proto-a': 'key-b2' });
      const deadline = Date.now() + 10_000;
      let nm = verifySignedNetmap(await b.client.poll(0), h.server.service.key.publicKey);
      while (nm.nodes.some((n) => n.id === 'alpha') && Date.now() < deadline) {
        const next = await b.client.poll(nm.version, { waitMs: 2_000 });
        if (next) nm = verifySignedNetmap(next, h.server.service.key.publicKey);
      }
      expect(nm.nodes.map((n) => n.id)).to.deep.equal(['beta']);
      const err = await a.client.poll(0, { waitMs: 0 }).catch((e: unknown) => e);
      expect(isRustynetError(err) && err.details?.['reason']).to.equal('node-key-expired');
      expect((err as Error).message).to.match(/authKeyFile|re-enrol|rotate-keys/);
      expect(await codeOf(a.client.rotateKeys(generateEd25519KeyPair().privateKeyPem, { 'proto-a': 'x' }))).to.equal(
        'AUTH_FAILED:node-key-expired',
      );
      const alpha = (await nodes(h)).find((n) => n.id === 'alpha');
      expect(alpha).to.deep.include({ expired: true, expiredBy: 'key-lifetime' });
      // Re-enrolment with a new pre-auth key brings it back with the same id.
      const r = await a.client.enrol({ authKey: await createKey(h.admin), name: 'alpha', keys: { 'proto-a': 'key-a1' } });
      expect(r.created).to.equal(false);
      nm = verifySignedNetmap(await a.client.poll(0), h.server.service.key.publicKey);
      expect(nm.nodes.map((n) => n.id).sort()).to.deep.equal(['alpha', 'beta']);
    });

    it('refuses a lifetime under 1 s', async () => {
      h = await startHarness({ engine });
      expect(await codeOf(startHarness({ engine, nodeKeyLifetimeMs: 999 }))).to.equal('INVALID_INPUT');
    });
  });
}

describe('control: applyKeyExpiry edges', () => {
  const node = (id: string, keyIssuedAt: number, expiredAt: number | null = null) => ({
    id,
    name: id,
    identityKey: id,
    keys: {},
    endpoints: [],
    tags: [],
    ipv4: '100.64.0.1',
    ipv6: 'fd00::1',
    createdAt: 0,
    updatedAt: 0,
    expiredAt,
    keyIssuedAt,
  });
  const snap = (issuedAt: number, ...nodes: ReturnType<typeof node>[]): Snapshot => ({
    version: 1,
    issuedAt,
    ulaPrefix: 'fd00::',
    nodes,
    acl: null,
    canary: null,
  });

  it('expires exactly at issuedAt + lifetime, not a millisecond before', () => {
    const s = applyKeyExpiry(snap(1_999, node('a', 1_000)), 1_000);
    expect(s.nodes[0]?.expiredAt).to.equal(null);
    expect(s.nodes[0]?.keyExpiresAt).to.equal(2_000);
    expect(keyExpiryDue(s, 1_999)).to.equal(false);
    expect(keyExpiryDue(s, 2_000)).to.equal(true);
    const t = applyKeyExpiry(snap(2_000, node('a', 1_000)), 1_000);
    expect(t.nodes[0]).to.deep.include({ expiredAt: 2_000, expiredBy: 'key-lifetime' });
    expect(keyExpiryDue(t, 5_000)).to.equal(false);
  });

  it('keeps an admin expiry as it is and changes nothing without a lifetime', () => {
    const s = snap(10_000, node('a', 0, 5));
    expect(applyKeyExpiry(s, undefined)).to.equal(s);
    expect(applyKeyExpiry(s, 1)).to.have.nested.property('nodes[0].expiredAt', 5);
    expect(applyKeyExpiry(s, 1).nodes[0]?.expiredBy).to.equal(undefined);
  });
});
