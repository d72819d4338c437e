import type { KitTest } from '../../define.js';
import { checkCapabilities, checkManifest } from '../../common/manifest-checks.js';
import type { DnsFixture } from '../fixture.js';

type T = KitTest<DnsFixture>;

/** The capability names of a DNS plugin, in contract order. */
export const DNS_CAPABILITY_KEYS = ['aaaa', 'forwarder', 'rateLimit'] as const;

/** The `dns.manifest.*` tests, in run order. */
export const manifestTests: T[] = [
  {
    id: 'dns.manifest.schema-valid',
    title: 'rustynet-plugin.json matches the manifest schema, kind dns, every dns capability declared',
    async run(t, fx) {
      await checkManifest(t, fx.server.plugin.loaded.dir, fx.manifest, 'dns', DNS_CAPABILITY_KEYS);
    },
  },
  {
    id: 'dns.manifest.capabilities-match',
    title: 'capabilities() at run time equals the manifest capabilities (fresh and running instance)',
    async run(t, fx) {
      const fresh = await fx.freshInstance('c');
      await checkCapabilities(t, fresh, fx.manifest, 'a fresh instance');
      await fresh.close();
      const s = await fx.serving();
      await checkCapabilities(t, s.plugin, fx.manifest, 'a running instance');
    },
  },
];
