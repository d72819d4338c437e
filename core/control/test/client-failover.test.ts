import { expect } from 'chai';
import { createServer } from 'node:net';
import { generateEd25519KeyPair } from '@rustynet/daemon';
import { isRustynetError } from '@rustynet/plugin-api';
import { ControlClient } from '../src/index.js';
import { createKey, startHarness } from './helpers.js';

/** A loopback URL nothing listens on (a port that was free a moment ago). */
function deadUrl(): Promise<string> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(`http://127.0.0.1:${port}`));
    });
  });
}

describe('control: ControlClient with several URLs', function () {
  this.timeout(20_000);

  it('moves past an unreachable URL and stays on the one that answers; a refusal never fails over', async () => {
    const h = await startHarness();
    try {
      const dead = await deadUrl();
      const moves: string[] = [];
      const c = new ControlClient({
        url: [dead, h.server.url],
        identityKeyPem: generateEd25519KeyPair().privateKeyPem,
        onFailover: (from, to, err) => moves.push(`${from} -> ${to}: ${err.code}`),
      });
      const r = await c.enrol({ authKey: await createKey(h.admin), name: 'a', keys: {} });
      expect(r.node.id).to.equal('a');
      expect(moves).to.deep.equal([`${dead} -> ${h.server.url}: INTERNAL`]);
      expect(c.url).to.equal(h.server.url);
      expect(await c.poll(0, { waitMs: 0 })).to.not.equal(null);
      expect(c.failovers).to.equal(1);
      // A refusal is an answer: the same server says the same to every instance.
      const other = new ControlClient({ url: [h.server.url, dead], identityKeyPem: generateEd25519KeyPair().privateKeyPem });
      const err = await other.enrol({ authKey: 'rnk_nope', name: 'b', keys: {} }).catch((e: unknown) => e);
      expect(isRustynetError(err, 'AUTH_FAILED')).to.equal(true);
      expect(other.failovers).to.equal(0);
      // All unreachable: the last transport error, after trying each once.
      const none = new ControlClient({ url: [dead, await deadUrl()], identityKeyPem: generateEd25519KeyPair().privateKeyPem });
      const down = await none.poll(0, { waitMs: 0 }).catch((e: unknown) => e);
      expect(isRustynetError(down, 'INTERNAL')).to.equal(true);
      expect(none.failovers).to.equal(1);
    } finally {
      await h.stop();
    }
  });

  it('refuses an empty URL list', () => {
    expect(() => new ControlClient({ url: [], identityKeyPem: generateEd25519KeyPair().privateKeyPem })).to.throw(/at least one/);
  });
});
