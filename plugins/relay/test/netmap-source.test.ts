import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash, generateKeyPairSync, sign as edSign, verify as edVerify, createPublicKey } from 'node:crypto';
import { expect } from 'chai';
import { RustynetError, isRustynetError, type Netmap } from '@rustynet/plugin-api';
import { createRelayServer, protocol, type VerifySignedNetmap } from '../src/index.js';
import { RawClient, makeKey } from './helpers.js';

/**
 * A stand-in for the daemon's verifySignedNetmap with the same contract (Ed25519 signature,
 * expiry; errors NETMAP_INVALID / NETMAP_SIGNATURE_INVALID / NETMAP_EXPIRED). It signs plain
 * JSON.stringify output instead of RFC 8785 JSON: the relay package takes the verifier as a
 * parameter (the CLI injects the daemon's), and what is tested here is the server's use of it.
 */
const canon = (v: unknown): string => JSON.stringify(v);
const testVerify: VerifySignedNetmap = (input, keyB64, opts) => {
  const signed = input as { netmap: Netmap; signature: { value: string } };
  if (typeof signed !== 'object' || !signed?.netmap || !signed.signature) throw new RustynetError('NETMAP_INVALID', 'not a signed netmap');
  const key = createPublicKey({
    key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(keyB64, 'base64').toString('base64url') },
    format: 'jwk',
  });
  if (!edVerify(null, Buffer.from(canon(signed.netmap)), key, Buffer.from(signed.signature.value, 'base64'))) {
    throw new RustynetError('NETMAP_SIGNATURE_INVALID', 'bad signature');
  }
  if (Date.parse(signed.netmap.expiresAt) < (opts?.now ?? Date.now())) throw new RustynetError('NETMAP_EXPIRED', 'expired');
  return signed.netmap;
};

describe('relay server with a signed netmap source', () => {
  let dir: string;
  const cp = generateKeyPairSync('ed25519');
  const cpB64 = Buffer.from(cp.publicKey.export({ format: 'jwk' }).x!, 'base64url').toString('base64');
  const nodeKeys = { a: makeKey(), b: makeKey() };

  function signed(
    version: number,
    nodes: Array<keyof typeof nodeKeys>,
    relays = [{ id: 'relay-1', endpoint: { host: '127.0.0.1', port: 3478 } }],
  ) {
    const netmap: Netmap = {
      version,
      issuedAt: new Date(Date.now() - 1000).toISOString(),
      expiresAt: new Date(Date.now() + 3600_000).toISOString(),
      nodes: nodes.map((id, i) => ({
        id,
        addresses: [`100.64.0.${i + 1}/32`],
        endpoints: [],
        keys: {},
        identityKey: nodeKeys[id].publicKeyB64,
      })),
      relays,
    };
    const value = edSign(null, Buffer.from(canon(netmap)), cp.privateKey).toString('base64');
    const keyId = createHash('sha256').update(Buffer.from(cpB64, 'base64')).digest('hex').slice(0, 16);
    return JSON.stringify({ netmap, signature: { alg: 'Ed25519', keyId, value } });
  }

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'rn-relay-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('takes node keys and its relay id from the verified netmap; keeps the last good map on a bad reload', async () => {
    const file = join(dir, 'netmap.json');
    await writeFile(file, signed(1, ['a']));
    const server = createRelayServer({
      listen: { host: '127.0.0.1', port: 0 },
      netmap: { file, controlPlaneKey: cpB64, verifySignedNetmap: testVerify, pollIntervalMs: 0 },
    });
    const ep = await server.start();
    const c = await RawClient.open(ep);
    try {
      expect(server.stats().relayId).to.equal('relay-1'); // the only relay in the map
      expect(server.stats().netmapVersion).to.equal(1);
      expect(await c.register('b', nodeKeys.b, 'relay-1')).to.equal(protocol.RejectReason.UNKNOWN_NODE);
      expect(await c.register('a', nodeKeys.a, 'relay-1')).to.equal('registered');
      // a tampered map is refused; the old allowlist stays
      const tampered = JSON.parse(signed(2, ['a', 'b'])) as { netmap: Netmap };
      tampered.netmap.version = 3;
      await writeFile(file, JSON.stringify(tampered));
      try {
        await server.reloadNetmap();
        expect.fail('accepted a tampered netmap');
      } catch (err) {
        expect(isRustynetError(err, 'NETMAP_SIGNATURE_INVALID')).to.equal(true);
      }
      expect(server.stats().netmapRejections).to.equal(1);
      expect(server.stats().sessions).to.equal(1);
      // a good new map that drops a ends a's session and admits b
      await writeFile(file, signed(4, ['b']));
      await server.reloadNetmap();
      expect(server.stats().sessions).to.equal(0);
      expect(await c.register('b', nodeKeys.b, 'relay-1')).to.equal('registered');
    } finally {
      await c.close();
      await server.stop();
    }
  });

  it('fails closed when the netmap expires: every session ends', async () => {
    const file = join(dir, 'netmap.json');
    await writeFile(file, signed(1, ['a']));
    let t = Date.now();
    const server = createRelayServer({
      listen: { host: '127.0.0.1', port: 0 },
      netmap: { file, controlPlaneKey: cpB64, verifySignedNetmap: testVerify, pollIntervalMs: 0 },
      now: () => t,
      sweepIntervalMs: 0,
    });
    const ep = await server.start();
    const c = await RawClient.open(ep);
    try {
      expect(await c.register('a', nodeKeys.a, 'relay-1')).to.equal('registered');
      t += 3600_000 + 1; // past expiresAt
      server.sweep();
      expect(server.stats().sessions).to.equal(0);
      expect(server.stats().allowedNodes).to.equal(0);
      expect(await c.register('a', nodeKeys.a, 'relay-1')).to.equal(protocol.RejectReason.UNKNOWN_NODE);
    } finally {
      await c.close();
      await server.stop();
    }
  });

  it('refuses to start on an unverifiable netmap or a relay id the map does not list', async () => {
    const file = join(dir, 'netmap.json');
    await writeFile(file, signed(1, ['a']).replace('"version":1', '"version":2'));
    const s1 = createRelayServer({
      listen: { host: '127.0.0.1', port: 0 },
      netmap: { file, controlPlaneKey: cpB64, verifySignedNetmap: testVerify },
    });
    try {
      await s1.start();
      expect.fail('started');
    } catch (err) {
      expect(isRustynetError(err, 'NETMAP_SIGNATURE_INVALID')).to.equal(true);
    }
    expect(s1.address()).to.equal(null);
    await writeFile(file, signed(1, ['a']));
    const s2 = createRelayServer({
      listen: { host: '127.0.0.1', port: 0 },
      relayId: 'nope',
      netmap: { file, controlPlaneKey: cpB64, verifySignedNetmap: testVerify },
    });
    try {
      await s2.start();
      expect.fail('started');
    } catch (err) {
      expect(isRustynetError(err, 'INVALID_INPUT')).to.equal(true);
      expect((err as { field?: string }).field).to.equal('relayId');
    }
    const s3 = createRelayServer({
      listen: { host: '127.0.0.1', port: 0 },
      netmap: { file: join(dir, 'missing.json'), controlPlaneKey: cpB64, verifySignedNetmap: testVerify },
    });
    try {
      await s3.start();
      expect.fail('started');
    } catch (err) {
      expect(isRustynetError(err, 'NETMAP_INVALID')).to.equal(true);
    }
    // A repeated member (RFC 7493) is refused by the shared strict parser, naming the field.
    await writeFile(file, signed(1, ['a']).replace('"netmap":', '"netmap":{},"netmap":'));
    const s4 = createRelayServer({
      listen: { host: '127.0.0.1', port: 0 },
      netmap: { file, controlPlaneKey: cpB64, verifySignedNetmap: testVerify },
    });
    try {
      await s4.start();
      expect.fail('started');
    } catch (err) {
      expect(isRustynetError(err, 'DUPLICATE_KEY')).to.equal(true);
      expect((err as { field?: string }).field).to.equal('netmap');
    }
    expect(s4.address()).to.equal(null);
  });
});
