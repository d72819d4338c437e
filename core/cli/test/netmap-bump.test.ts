import { expect } from 'chai';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { restamp } from '../src/commands/netmap.js';
import { rn } from './helpers.js';

const base = {
  version: 5,
  issuedAt: '2026-01-01T00:00:00.000Z',
  expiresAt: '2026-01-01T01:00:00.000Z',
  nodes: [{ id: 'n1', addresses: ['100.64.0.1/32'], endpoints: [], keys: {}, identityKey: Buffer.alloc(32, 1).toString('base64') }],
};

describe('rustynet netmap sign --bump / --expires-in', () => {
  it('restamp: next = previous + 1, time = max(previous + 1, Unix seconds), expiry from now', () => {
    const now = Date.parse('2026-06-01T00:00:00Z');
    expect(restamp(base, { bump: 'next', now }).version).to.equal(6);
    expect(restamp(base, { bump: 'next', previousVersion: 9, now }).version).to.equal(10);
    expect(restamp(base, { bump: 'time', now }).version).to.equal(now / 1000);
    expect(restamp({ ...base, version: now }, { bump: 'time', now }).version).to.equal(now + 1);
    const e = restamp(base, { expiresInMs: 1_800_000, now });
    expect(e.version).to.equal(5);
    expect(e.issuedAt).to.equal('2026-06-01T00:00:00.000Z');
    expect(e.expiresAt).to.equal('2026-06-01T00:30:00.000Z');
  });

  it('signs with the version above the current --out file and a fresh expiry', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'rn-bump-'));
    try {
      expect((await rn(['keygen', '--out', dir, '--control-plane', '--no-identity', '--json'])).code).to.equal(0);
      const key = join(dir, 'control-plane.key');
      const input = join(dir, 'netmap.json');
      const out = join(dir, 'signed.json');
      await writeFile(input, JSON.stringify(base));
      for (const expected of [6, 7]) {
        const r = await rn(['netmap', 'sign', '--key', key, '--in', input, '--out', out, '--bump', '--expires-in', '30m']);
        expect(r.code, r.stderr).to.equal(0);
        const signed = JSON.parse(await readFile(out, 'utf8')) as { netmap: { version: number; expiresAt: string } };
        expect(signed.netmap.version).to.equal(expected);
        expect(Date.parse(signed.netmap.expiresAt)).to.be.greaterThan(Date.now());
      }
      const pub = (await readFile(join(dir, 'control-plane.pub'), 'utf8')).trim();
      expect((await rn(['netmap', 'verify', '--pubkey', pub, out])).code).to.equal(0);
      const bad = await rn(['netmap', 'sign', '--key', key, '--in', input, '--expires-in', 'soon']);
      expect(bad.code).to.equal(2);
      expect(bad.stderr).to.contain('INVALID_INPUT');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
