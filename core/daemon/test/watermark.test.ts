import { expect } from 'chai';
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
});
