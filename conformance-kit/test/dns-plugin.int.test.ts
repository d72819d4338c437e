import { join } from 'node:path';
import { itCatchesBrokenFixtures, itPassesReferenceRun, itWritesJunit, ROOT, useTmpDir, readExpectations } from './helpers/self-test.js';

const PLUGIN = join(ROOT, 'plugins', 'dns-magic');

describe('dns suite against @rustynet/dns-magic and broken fixtures (int, root)', function () {
  this.timeout(180_000);
  const tmp = useTmpDir('rnt-dns-', { requireBuilt: PLUGIN });

  itPassesReferenceRun({
    title: 'the reference plugin passes every test in under 60 s; the JSON report validates; skips carry reasons',
    plugin: PLUGIN,
    kind: 'dns',
    label: 'dns',
    maxSeconds: 60,
    passedMoreThan: 15,
    tmp,
  });

  itWritesJunit({
    title: 'writes JUnit XML with dns.<area> class names',
    plugin: PLUGIN,
    grep: 'dns\\.(manifest|records)\\.',
    expectXml: ['<testcase classname="dns.manifest" name="dns.manifest.schema-valid"', 'failures="0"'],
    tmp,
  });

  itCatchesBrokenFixtures({
    fixtures: readExpectations('dns'),
    tmp,
    title: (name, { target, control }) => `self-test: ${name} fails ${target} and passes ${control}`,
  });
});
