import { join } from 'node:path';
import {
  itCatchesBrokenFixtures,
  itPassesReferenceRun,
  itWritesJunit,
  ROOT,
  useTmpDir,
  type FixtureExpectation,
} from './helpers/self-test.js';

const PLUGIN = join(ROOT, 'plugins', 'policy-nftables');

/** Broken policy fixtures (each wraps the real plugin by package name) and the test meant to catch each. */
export const POLICY_FIXTURES: Record<string, FixtureExpectation> = {
  'policy-not-atomic': { target: 'policy.update.no-gap', control: 'policy.enforce.matrix-ipv4' },
  'policy-allows-all': { target: 'policy.enforce.default-deny', control: 'policy.state.already-running' },
  'policy-leaves-table': { target: 'policy.teardown.clean', control: 'policy.enforce.matrix-ipv4' },
  'policy-input-only': { target: 'policy.forward.routed', control: 'policy.state.already-running' },
  'policy-tag-first-node': { target: 'policy.selectors.tag-several-nodes', control: 'policy.state.already-running' },
  'policy-skips-same-acl': { target: 'policy.selectors.node-set-change', control: 'policy.state.already-running' },
  'policy-range-endpoints': { target: 'policy.ports.overlapping-ranges', control: 'policy.state.already-running' },
  'policy-ports-only-grow': { target: 'policy.update.shrink', control: 'policy.state.already-running' },
  'policy-trusts-sources': { target: 'policy.spoof.underlay-overlay-source', control: 'policy.state.already-running' },
};

describe('policy suite against @rustynet/policy-nftables and broken fixtures (int, root)', function () {
  this.timeout(180_000);
  const tmp = useTmpDir('rnt-policy-', { requireBuilt: PLUGIN });

  itPassesReferenceRun({
    title: 'the reference plugin passes every test in under 90 s; the JSON report validates; skips carry reasons',
    plugin: PLUGIN,
    kind: 'policy',
    label: 'policy',
    maxSeconds: 90,
    passedMoreThan: 12,
    tmp,
  });

  itWritesJunit({
    title: 'writes JUnit XML with policy.<area> class names',
    plugin: PLUGIN,
    grep: 'policy\\.(manifest|counters)\\.',
    expectXml: ['<testcase classname="policy.manifest" name="policy.manifest.schema-valid"', /<skipped message="[^"]+"\/>/],
    tmp,
  });

  itCatchesBrokenFixtures({
    fixtures: POLICY_FIXTURES,
    tmp,
    title: (name, { target, control }) => `self-test: ${name} fails ${target} and passes ${control}`,
  });
});
