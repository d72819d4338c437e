import type { KitTest } from '../../define.js';
import { checkCapabilities, checkManifest } from '../../common/manifest-checks.js';
import type { PolicyFixture } from '../fixture.js';

type T = KitTest<PolicyFixture>;

/** The capability names of a policy plugin, in contract order. */
export const POLICY_CAPABILITY_KEYS = ['ipv6', 'counters', 'atomicUpdate'] as const;

/** The `policy.manifest.*` tests, in run order. */
export const manifestTests: T[] = [
  {
    id: 'policy.manifest.schema-valid',
    title: 'rustynet-plugin.json matches the manifest schema, kind policy, every policy capability declared',
    async run(t, fx) {
      await checkManifest(t, fx.a.plugin.loaded.dir, fx.manifest, 'policy', POLICY_CAPABILITY_KEYS);
    },
  },
  {
    id: 'policy.manifest.capabilities-match',
    title: 'capabilities() at run time equals the manifest capabilities (fresh and running instance)',
    async run(t, fx) {
      const fresh = await fx.freshInstance('d');
      await checkCapabilities(t, fresh, fx.manifest, 'a fresh instance');
      await fresh.close();
      await fx.protectedNode();
      await checkCapabilities(t, fx.a.plugin, fx.manifest, 'a running instance');
    },
  },
];
