import type { KitTest } from '../../define.js';
import { ECHO_UDP_PORT, type BackendFixture } from '../fixture.js';

type T = KitTest<BackendFixture>;

export const encryptionTests: T[] = [
  {
    id: 'backend.encryption.marker-not-in-underlay',
    title: 'a marker payload sent through the tunnel arrives but never appears in an underlay capture',
    async run(t, fx) {
      await fx.mesh();
      const { a, b } = fx.nodes;
      const marker = `RUSTYNET-MARKER-${fx.net.runId}-${Date.now()}`;
      t.begin('capture on the underlay of a and b');
      const [ca, cb] = await Promise.all([a.host.capture(), b.host.capture()]);
      let bytesA: Buffer;
      let bytesB: Buffer;
      try {
        t.begin('send the marker through the tunnel (UDP and TCP)');
        const r = await a.host.udpSend(b.ip4, ECHO_UDP_PORT, marker);
        t.check(r?.toString() === marker, 'the marker did not arrive through the tunnel', marker, r?.toString() ?? null);
        const r2 = await a.host.tcpSend(b.ip4, 7001, marker.repeat(20));
        t.check(r2?.toString() === marker.repeat(20), 'the TCP marker did not arrive', 'echo', r2?.length ?? null);
      } finally {
        [bytesA, bytesB] = await Promise.all([ca.stop(), cb.stop()]);
      }
      t.begin('inspect the captures');
      t.check(
        bytesA.length > 200 && bytesB.length > 200,
        'the captures saw no tunnel traffic: cannot judge encryption',
        '> 200 bytes captured',
        [bytesA.length, bytesB.length],
      );
      const needle = Buffer.from(marker.slice(0, 24));
      t.check(
        !bytesA.includes(needle),
        'the marker appears in clear text on the underlay of a',
        'marker absent (encrypted)',
        'marker found in capture',
      );
      t.check(
        !bytesB.includes(needle),
        'the marker appears in clear text on the underlay of b',
        'marker absent (encrypted)',
        'marker found in capture',
      );
    },
  },
];
