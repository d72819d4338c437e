import { expect } from 'chai';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { applySignedNetmapDelta, netmapDigest, publicKeyFromPrivatePem, publicKeyFromRawB64, readPrivateKeyFile } from '@rustynet/daemon';
import type { Netmap } from '@rustynet/plugin-api';
import { rn } from './helpers.js';

const node = (i: number) => ({
  id: `n${i}`,
  addresses: [`100.64.0.${i}/32`],
  endpoints: [{ host: `198.18.0.${i}`, port: 51820 }],
  keys: {},
  identityKey: Buffer.alloc(32, i).toString('base64'),
});

describe('rustynet netmap delta', () => {
  it('signs the delta between two signed netmaps; it applies to the first and yields the second', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'rn-delta-'));
    try {
      expect((await rn(['keygen', '--out', dir, '--control-plane', '--no-identity', '--json'])).code).to.equal(0);
      const key = join(dir, 'control-plane.key');
      const now = Date.now();
      const nm1: Netmap = {
        version: 1,
        issuedAt: new Date(now - 1000).toISOString(),
        expiresAt: new Date(now + 3_600_000).toISOString(),
        nodes: [node(1), node(2), node(3)],
      };
      const nm2: Netmap = {
        ...nm1,
        version: 2,
        nodes: [node(1), { ...node(2), endpoints: [{ host: '198.18.0.9', port: 4000 }] }, node(4)],
      };
      for (const [nm, f] of [
        [nm1, 'a'],
        [nm2, 'b'],
      ] as const) {
        await writeFile(join(dir, `${f}.json`), JSON.stringify(nm));
        const r = await rn(['netmap', 'sign', '--key', key, '--in', join(dir, `${f}.json`), '--out', join(dir, `${f}.signed.json`)]);
        expect(r.code, r.stderr).to.equal(0);
      }
      const out = join(dir, 'delta.json');
      const r = await rn([
        'netmap',
        'delta',
        '--key',
        key,
        '--from',
        join(dir, 'a.signed.json'),
        '--to',
        join(dir, 'b.signed.json'),
        '--out',
        out,
      ]);
      expect(r.code, r.stderr).to.equal(0);
      const pub = publicKeyFromRawB64(publicKeyFromPrivatePem(await readPrivateKeyFile(key)));
      const applied = applySignedNetmapDelta(JSON.parse(await readFile(out, 'utf8')), pub, { netmap: nm1, digest: netmapDigest(nm1) }, now);
      expect(applied.digest).to.equal(netmapDigest(nm2));

      // Backwards, or a --to signed by another key: a named error, nothing written.
      const back = await rn(['netmap', 'delta', '--key', key, '--from', join(dir, 'b.signed.json'), '--to', join(dir, 'a.signed.json')]);
      expect(back.code).to.not.equal(0);
      expect(back.stderr).to.match(/INVALID_INPUT|no delta/);
      const tampered = JSON.parse(await readFile(join(dir, 'b.signed.json'), 'utf8'));
      tampered.netmap.nodes[0].endpoints[0].port = 1;
      await writeFile(join(dir, 'c.signed.json'), JSON.stringify(tampered));
      const bad = await rn(['netmap', 'delta', '--key', key, '--from', join(dir, 'a.signed.json'), '--to', join(dir, 'c.signed.json')]);
      expect(bad.code).to.not.equal(0);
      expect(bad.stderr).to.match(/NETMAP_SIGNATURE_INVALID|signature/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
