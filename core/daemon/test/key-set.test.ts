import { chmodSync, existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'chai';
import { RustynetError, isRustynetError, type Netmap, type StateStore } from '@rustynet/plugin-api';
import { FileStateStore } from '../src/services/state-store.js';
import { NetmapTrust } from '../src/trust/netmap-trust.js';
import { ControlKeySet } from '../src/trust/key-set.js';
import { generateEd25519KeyPair, keyIdOf } from '../src/services/key-store.js';
import { signNetmap } from '../src/trust/sign.js';
import { makeNetmap, tmpDir } from './helpers.js';

async function rejects(p: Promise<unknown>, code: string): Promise<RustynetError> {
  try {
    await p;
  } catch (err) {
    expect(isRustynetError(err, code as never), String(err)).to.equal(true);
    return err as RustynetError;
  }
  return expect.fail(`expected ${code}`);
}

function map(version: number, signingKeys?: Netmap['signingKeys']): Netmap {
  return { ...makeNetmap(2, version), ...(signingKeys && { signingKeys }) };
}

const KEYS_FILE = 'control-keys.json';

describe('control-plane key set (signing-key rotation)', () => {
  const old = generateEd25519KeyPair();
  const next = generateEd25519KeyPair();
  const hostile = generateEd25519KeyPair();

  it('learns the announced next key from a map signed by a trusted key, persists it 0600, and a restart keeps it', async () => {
    const dir = tmpDir();
    const t = new NetmapTrust(old.publicKeyB64, new FileStateStore(dir));
    await t.commit(await t.check(signNetmap(map(1, { next: next.publicKeyB64 }), old.privateKeyPem)));
    expect(t.keys.trusted).to.deep.equal([old.publicKeyB64, next.publicKeyB64]);
    const file = join(dir, KEYS_FILE);
    expect(statSync(file).mode & 0o777).to.equal(0o600);
    expect(JSON.parse(readFileSync(file, 'utf8'))).to.deep.equal({ v: 1, added: [next.publicKeyB64], retired: [] });
    // A restarted daemon (only the old key pinned) accepts a map signed by the new key.
    const t2 = new NetmapTrust(old.publicKeyB64, new FileStateStore(dir));
    const r = await t2.check(signNetmap(map(2), next.privateKeyPem));
    expect(r.status).to.equal('new');
    // Watermark rules are unchanged across keys: an older version signed by either key is a replay.
    await t2.commit(r);
    await rejects(t2.check(signNetmap(map(1), next.privateKeyPem)), 'NETMAP_REPLAYED');
    await rejects(t2.check(signNetmap(map(1, { next: hostile.publicKeyB64 }), old.privateKeyPem)), 'NETMAP_REPLAYED');
    expect(t2.keys.trusted).to.not.include(hostile.publicKeyB64);
  });

  it('hostile: a map announcing a key but signed by an untrusted key adds nothing and persists nothing', async () => {
    const dir = tmpDir();
    const t = new NetmapTrust(old.publicKeyB64, new FileStateStore(dir));
    const err = await rejects(
      t.check(signNetmap(map(1, { next: hostile.publicKeyB64 }), hostile.privateKeyPem)),
      'NETMAP_SIGNATURE_INVALID',
    );
    expect(err.field).to.equal('signature.keyId');
    expect(err.message).to.include(keyIdOf(hostile.publicKeyB64)).and.include('controlPlaneKeys').and.include('key-rotation.md');
    expect(t.keys.trusted).to.deep.equal([old.publicKeyB64]);
    expect(existsSync(join(dir, KEYS_FILE))).to.equal(false);
    // A forged keyId (names the trusted key, signed by another) fails the signature itself.
    const forged = signNetmap(map(1, { next: hostile.publicKeyB64 }), hostile.privateKeyPem);
    forged.signature.keyId = keyIdOf(old.publicKeyB64);
    await rejects(t.check(forged), 'NETMAP_SIGNATURE_INVALID');
    // A map signed by the trusted key but edited after signing to announce a key.
    const edited = signNetmap(map(1), old.privateKeyPem);
    edited.netmap.signingKeys = { next: hostile.publicKeyB64 };
    await rejects(t.check(edited), 'NETMAP_SIGNATURE_INVALID');
    expect(existsSync(join(dir, KEYS_FILE))).to.equal(false);
    expect(t.keys.trusted).to.deep.equal([old.publicKeyB64]);
  });

  it('a malformed key field is NETMAP_INVALID naming the field; nothing persisted', async () => {
    const dir = tmpDir();
    const t = new NetmapTrust(old.publicKeyB64, new FileStateStore(dir));
    const bad = signNetmap({ ...map(1), signingKeys: { next: 'not-a-key' } }, old.privateKeyPem);
    expect((await rejects(t.check(bad), 'NETMAP_INVALID')).field).to.equal('signingKeys.next');
    const extra = signNetmap({ ...map(1), signingKeys: { next: next.publicKeyB64, nextt: 'x' } } as unknown as Netmap, old.privateKeyPem);
    expect((await rejects(t.check(extra), 'NETMAP_INVALID')).field).to.equal('signingKeys.nextt');
    expect(existsSync(join(dir, KEYS_FILE))).to.equal(false);
  });

  it('retires the old key only by a map signed with another trusted key; a retired key never comes back', async () => {
    const dir = tmpDir();
    const t = new NetmapTrust(old.publicKeyB64, new FileStateStore(dir));
    await t.commit(await t.check(signNetmap(map(1, { next: next.publicKeyB64 }), old.privateKeyPem)));
    // The old key cannot retire itself (that would leave a node trusting only what it was told to).
    await t.commit(await t.check(signNetmap(map(2, { retired: old.publicKeyB64 }), old.privateKeyPem)));
    expect(t.keys.trusted).to.include(old.publicKeyB64);
    await t.commit(await t.check(signNetmap(map(3, { retired: old.publicKeyB64 }), next.privateKeyPem)));
    expect(t.keys.trusted).to.deep.equal([next.publicKeyB64]);
    await rejects(t.check(signNetmap(map(4), old.privateKeyPem)), 'NETMAP_SIGNATURE_INVALID');
    await t.commit(await t.check(signNetmap(map(4, { next: old.publicKeyB64 }), next.privateKeyPem)));
    expect(t.keys.trusted).to.deep.equal([next.publicKeyB64]);
    // Even though it is still pinned in the config, a restart keeps it retired.
    const t2 = new NetmapTrust(old.publicKeyB64, new FileStateStore(dir));
    await t2.keys.load();
    expect(t2.keys.trusted).to.deep.equal([next.publicKeyB64]);
  });

  it('a re-pinned key (config controlPlaneKeys) lets a node that missed the window verify again', async () => {
    const dir = tmpDir();
    const missed = new NetmapTrust(old.publicKeyB64, new FileStateStore(dir));
    const fromNew = signNetmap(map(5, { retired: old.publicKeyB64 }), next.privateKeyPem);
    await rejects(missed.check(fromNew), 'NETMAP_SIGNATURE_INVALID');
    const repinned = new NetmapTrust([old.publicKeyB64, next.publicKeyB64], new FileStateStore(dir));
    await repinned.commit(await repinned.check(fromNew));
    expect(repinned.keys.trusted).to.deep.equal([next.publicKeyB64]);
  });

  it('a failed write of the learned key changes nothing and the map is refused', async () => {
    const inner = new FileStateStore(tmpDir());
    const failing = Object.assign(Object.create(inner) as StateStore, {
      write: () => Promise.reject(new RustynetError('STATE_WRITE_FAILED', 'disk full (test)')),
    });
    const t = new NetmapTrust(old.publicKeyB64, failing);
    await rejects(t.check(signNetmap(map(1, { next: next.publicKeyB64 }), old.privateKeyPem)), 'STATE_WRITE_FAILED');
    expect(t.keys.trusted).to.deep.equal([old.publicKeyB64]);
    expect(await t.watermark.current()).to.equal(null);
  });

  it('a tampered control-keys.json is KEY_INVALID naming the file; malformed pinned keys name their field', async () => {
    const dir = tmpDir();
    writeFileSync(join(dir, KEYS_FILE), JSON.stringify({ v: 1, added: ['x'], retired: [] }));
    chmodSync(join(dir, KEYS_FILE), 0o600);
    const t = new NetmapTrust(old.publicKeyB64, new FileStateStore(dir));
    expect((await rejects(t.check(signNetmap(map(1), old.privateKeyPem)), 'KEY_INVALID')).field).to.equal('control-keys.json');
    let caught: unknown;
    try {
      new ControlKeySet([old.publicKeyB64, 'bad'], new FileStateStore(tmpDir()));
    } catch (err) {
      caught = err;
    }
    expect(isRustynetError(caught, 'KEY_INVALID') && caught.field).to.equal('controlPlaneKeys/0');
  });
});
