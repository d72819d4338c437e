import { execFileSync } from 'node:child_process';
import { chmodSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'chai';
import { createPlugin } from '../src/index.js';
import { WG_KEY_PATTERN } from '../src/capabilities.js';
import { makeContext, tempDir } from './support/context.js';
import { FakeRunner } from './support/fake-runner.js';
import { caught } from './support/keys.js';

/** `wg pubkey` with the private key on stdin (wireguard-tools is a requirement of this backend). */
function wgPubkey(privateKeyText: string): string {
  return execFileSync('wg', ['pubkey'], { input: privateKeyText }).toString().trim();
}

describe('key files', () => {
  const plugin = createPlugin(makeContext(new FakeRunner()));

  it('writes private.key 0600 in a 0700 directory and public.key; wg pubkey agrees', async () => {
    const dir = join(tempDir(), 'keys', 'wg');
    const pair = await plugin.generateKeyPair(dir);
    expect(pair.files).to.deep.equal([join(dir, 'private.key'), join(dir, 'public.key')]);
    expect(statSync(dir).mode & 0o777).to.equal(0o700);
    expect(statSync(join(dir, 'private.key')).mode & 0o777).to.equal(0o600);
    const priv = readFileSync(join(dir, 'private.key'), 'utf8');
    expect(priv).to.match(/^[A-Za-z0-9+/]{43}=\n$/);
    expect(pair.publicKey).to.match(WG_KEY_PATTERN);
    expect(readFileSync(join(dir, 'public.key'), 'utf8').trim()).to.equal(pair.publicKey);
    expect(wgPubkey(priv)).to.equal(pair.publicKey);
    expect(await plugin.publicKey(dir)).to.equal(pair.publicKey);
    // clamped like `wg genkey`
    const raw = Buffer.from(priv.trim(), 'base64');
    expect(raw[0] & 7).to.equal(0);
    expect(raw[31] & 0xc0).to.equal(0x40);
  });

  it('derives the same public key as wg pubkey for a key made by wg genkey', async () => {
    const dir = tempDir();
    const priv = execFileSync('wg', ['genkey']).toString();
    writeFileSync(join(dir, 'private.key'), priv, { mode: 0o600 });
    expect(await plugin.publicKey(dir)).to.equal(wgPubkey(priv));
  });

  it('refuses to overwrite existing key files (KEY_INVALID) and leaves them unchanged', async () => {
    const dir = tempDir();
    await plugin.generateKeyPair(dir);
    const before = readFileSync(join(dir, 'private.key'), 'utf8');
    expect((await caught(() => plugin.generateKeyPair(dir))).code).to.equal('KEY_INVALID');
    expect(readFileSync(join(dir, 'private.key'), 'utf8')).to.equal(before);
  });

  it('refuses a private key readable by group or others (KEY_INVALID)', async () => {
    const dir = tempDir();
    await plugin.generateKeyPair(dir);
    chmodSync(join(dir, 'private.key'), 0o640);
    expect((await caught(() => plugin.publicKey(dir))).code).to.equal('KEY_INVALID');
    chmodSync(join(dir, 'private.key'), 0o644);
    expect((await caught(() => plugin.publicKey(dir))).code).to.equal('KEY_INVALID');
  });

  it('refuses a missing, malformed or mismatched key (KEY_INVALID)', async () => {
    expect((await caught(() => plugin.publicKey(tempDir()))).code).to.equal('KEY_INVALID');
    const dir = tempDir();
    writeFileSync(join(dir, 'private.key'), 'not a key\n', { mode: 0o600 });
    expect((await caught(() => plugin.publicKey(dir))).code).to.equal('KEY_INVALID');
    const dir2 = tempDir();
    await plugin.generateKeyPair(dir2);
    writeFileSync(join(dir2, 'public.key'), `${execFileSync('wg', ['genkey']).toString().trim()}\n`);
    expect((await caught(() => plugin.publicKey(dir2))).code).to.equal('KEY_INVALID');
  });
});
