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
};

describe('policy suite against @rustynet/policy-nftables and broken fixtures (int, root)', function () {
  this.timeout(180_000);
  const tmp = useTmpDir('rnt-policy-', { requireBuilt: PLUGIN });

  itPassesReferenceRun({
    title: 'the reference plugin passes every test in under 60 s; the JSON report validates; skips carry reasons',
    plugin: PLUGIN,
    kind: 'policy',
    label: 'policy',
    maxSeconds: 60,
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
