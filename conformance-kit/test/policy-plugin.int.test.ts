import { join } from 'node:path';
import { itCatchesBrokenFixtures, itPassesReferenceRun, itWritesJunit, ROOT, useTmpDir, readExpectations } from './helpers/self-test.js';

const PLUGIN = join(ROOT, 'plugins', 'policy-nftables');

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
    fixtures: readExpectations('policy'),
    tmp,
    title: (name, { target, control }) => `self-test: ${name} fails ${target} and passes ${control}`,
  });
});
