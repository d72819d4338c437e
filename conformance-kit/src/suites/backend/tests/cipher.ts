import type { KitTest } from '../../define.js';
import type { BackendFixture, SuiteNode } from '../fixture.js';
import { expectPing } from './helpers.js';

type T = KitTest<BackendFixture>;

/** AEAD data-channel ciphers the kit accepts (compared case-insensitively). */
export const AEAD_CIPHERS: readonly string[] = ['ChaCha20-Poly1305', 'XChaCha20-Poly1305', 'AES-128-GCM', 'AES-192-GCM', 'AES-256-GCM'];

const isAead = (c: string): boolean => AEAD_CIPHERS.some((x) => x.toLowerCase() === c.toLowerCase());

/** `backend.encryption.*` tests of the negotiated cipher. */
export const cipherTests: T[] = [
  {
    id: 'backend.encryption.aead-cipher',
    title: 'after traffic, stats() reports for every peer the negotiated data-channel cipher (PeerStats.cipher), and it is an AEAD',
    async run(t, fx) {
      await fx.mesh();
      const { a, b, c } = fx.nodes;
      await expectPing(t, fx, a, b.ip4, 'traffic to b');
      await expectPing(t, fx, a, c.ip4, 'traffic to c');
      const pairs: [SuiteNode, string][] = [
        [a, 'b'],
        [a, 'c'],
        [b, 'a'],
      ];
      t.begin('stats() names the cipher of each peer (polled up to 3 s)');
      const until = Date.now() + fx.ms(3000);
      let seen: Record<string, string | null>;
      for (;;) {
        seen = {};
        for (const [n, id] of pairs) {
          const st = await t.ok(`stats on ${n.name}`, fx.stats(n));
          seen[`${n.name}->${id}`] = st.peers.find((p) => p.id === id)?.cipher ?? null;
        }
        if (Object.values(seen).every((v) => v !== null) || Date.now() > until) break;
        await new Promise((r) => setTimeout(r, 250));
      }
      t.check(
        Object.values(seen).every((v) => v !== null),
        'stats() does not report the negotiated data-channel cipher of a peer that carried traffic',
        'PeerStats.cipher set for every peer with a session',
        seen,
      );
      t.begin(`the ciphers are AEAD (${AEAD_CIPHERS.join(', ')})`);
      const bad = Object.entries(seen).filter(([, v]) => v !== null && !isAead(v));
      t.check(bad.length === 0, 'a data channel uses a cipher that is not an allowed AEAD', AEAD_CIPHERS, Object.fromEntries(bad));
    },
  },
];
