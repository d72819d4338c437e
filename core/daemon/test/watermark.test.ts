import { expect } from 'chai';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { isRustynetError } from '@rustynet/plugin-api';
import { FileStateStore } from '../src/services/state-store.js';
import { NetmapWatermark } from '../src/trust/watermark.js';
import { NetmapTrust } from '../src/trust/netmap-trust.js';
import { generateEd25519KeyPair } from '../src/services/key-store.js';
import { signNetmap } from '../src/trust/sign.js';
import { makeNetmap, tmpDir } from './helpers.js';

async function expectReject(p: Promise<unknown>, code: string): Promise<void> {
  try {
    await p;
  } catch (err) {
    expect(isRustynetError(err, code as never), String(err)).to.equal(true);
    return;
  }
  expect.fail(`expected ${code}`);
}

describe('netmap watermark', () => {
  it('accepts newer, no-ops the same digest, rejects older and equivocation', async () => {
    const wm = new NetmapWatermark(new FileStateStore(tmpDir()));
    expect(await wm.current()).to.equal(null);
    expect(await wm.check(5, 'aa')).to.equal('new');
    await wm.commit(5, 'aa');
    expect(await wm.check(6, 'bb')).to.equal('new');
    expect(await wm.check(5, 'aa')).to.equal('unchanged');
    await expectReject(wm.check(4, 'cc'), 'NETMAP_REPLAYED');
    await expectReject(wm.check(5, 'dd'), 'NETMAP_REPLAYED');
    await expectReject(wm.commit(3, 'ee'), 'NETMAP_REPLAYED');
  });

  it('persists across instances', async () => {
    const dir = tmpDir();
    await new NetmapWatermark(new FileStateStore(dir)).commit(7, 'ff');
    const again = new NetmapWatermark(new FileStateStore(dir));
    expect(await again.current()).to.deep.equal({ version: 7, digest: 'ff' });
    await expectReject(again.check(6, 'x'), 'NETMAP_REPLAYED');
    expect(await again.check(7, 'ff')).to.equal('unchanged');
  });

  it('NetmapTrust: check + commit + lastGood round trip, replay after restart rejected', async () => {
    const dir = tmpDir();
    const cp = generateEd25519KeyPair();
    const t1 = new NetmapTrust(cp.publicKeyB64, new FileStateStore(dir));
    const v1 = signNetmap(makeNetmap(2, 1), cp.privateKeyPem);
    const v2 = signNetmap(makeNetmap(2, 2), cp.privateKeyPem);
    const ok = await t1.check(v2);
    expect(ok.status).to.equal('new');
    await t1.commit(ok);
    const t2 = new NetmapTrust(cp.publicKeyB64, new FileStateStore(dir));
    await expectReject(t2.check(v1), 'NETMAP_REPLAYED');
    expect((await t2.check(v2)).status).to.equal('unchanged');
    const last = await t2.lastGood();
    expect(last?.netmap.version).to.equal(2);
  });

  it('commit moves the apply intent into the last good map; a crash before that move keeps the committed map', async () => {
    const dir = tmpDir();
    const cp = generateEd25519KeyPair();
    const trust = new NetmapTrust(cp.publicKeyB64, new FileStateStore(dir));
    const text2 = JSON.stringify(signNetmap(makeNetmap(2, 2), cp.privateKeyPem), null, 1);
    const t2 = await trust.check(JSON.parse(text2), text2);
    await trust.recordIntent(t2);
    expect(readFileSync(join(dir, 'netmap-intent.json'), 'utf8')).to.equal(text2);
    await trust.commit(t2);
    expect(existsSync(join(dir, 'netmap-intent.json')), 'the intent became the last good map').to.equal(false);
    expect(readFileSync(join(dir, 'last-good-netmap.json'), 'utf8')).to.equal(text2);
    // Killed after the watermark of version 3 was written, before the intent was moved.
    const text3 = JSON.stringify(signNetmap(makeNetmap(2, 3), cp.privateKeyPem));
    const t3 = await trust.check(JSON.parse(text3), text3);
    await trust.recordIntent(t3);
    await trust.watermark.commit(3, t3.digest);
    const again = new NetmapTrust(cp.publicKeyB64, new FileStateStore(dir));
    expect(await again.recordedIntent(), 'not newer than the watermark').to.equal(undefined);
    const last = await again.lastGood();
    expect(last?.netmap.version, 'the committed map, from the intent').to.equal(3);
    expect(last?.digest).to.equal(t3.digest);
    await expectReject(again.check(JSON.parse(text2)), 'NETMAP_REPLAYED');
    // Its next commit records it as the last good map.
    await again.commit(last!);
    expect(JSON.parse(readFileSync(join(dir, 'last-good-netmap.json'), 'utf8'))).to.deep.equal(JSON.parse(text3));
  });

  it('a commit whose move fails leaves the old last good map and the intent (STATE_WRITE_FAILED)', async () => {
    const dir = tmpDir();
    const cp = generateEd25519KeyPair();
    const trust = new NetmapTrust(cp.publicKeyB64, new FileStateStore(dir));
    const t1 = await trust.check(signNetmap(makeNetmap(2, 1), cp.privateKeyPem));
    await trust.recordIntent(t1);
    await trust.commit(t1);
    const before = readFileSync(join(dir, 'last-good-netmap.json'), 'utf8');
    const t2 = await trust.check(signNetmap(makeNetmap(2, 2), cp.privateKeyPem));
    await trust.recordIntent(t2);
    // The intent vanished under the daemon (e.g. a broken disk): the rename cannot happen.
    const { rmSync } = await import('node:fs');
    rmSync(join(dir, 'netmap-intent.json'));
    await expectReject(trust.commit(t2), 'STATE_WRITE_FAILED');
    expect(readFileSync(join(dir, 'last-good-netmap.json'), 'utf8')).to.equal(before);
  });
});
