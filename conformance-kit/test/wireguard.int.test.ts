import { join } from 'node:path';
import { itPassesReferenceRun, itWritesJunit, ROOT, useTmpDir } from './helpers/self-test.js';

const WG = join(ROOT, 'plugins', 'backend-wireguard');

describe('runPluginTest against the WireGuard reference backend (int)', function () {
  this.timeout(180_000);
  const tmp = useTmpDir('rnt-wg-', { requireBuilt: WG });

  itPassesReferenceRun({
    title: 'passes every required test in under 120 s; the JSON report validates against the schema; nothing is left behind',
    plugin: WG,
    kind: 'backend',
    label: 'WireGuard',
    maxSeconds: 120,
    passedMoreThan: 25,
    leavesNothingBehind: true,
    tmp,
  });

  itWritesJunit({
    title: 'writes JUnit XML with one testcase per test and skipped elements with reasons',
    plugin: WG,
    grep: 'backend\\.(manifest|endpoints)\\.',
    expectXml: [
      /^<\?xml/,
      '<testcase classname="backend.manifest" name="backend.manifest.schema-valid"',
      /<skipped message="[^"]+"\/>/,
      'failures="0"',
    ],
    tmp,
  });
});
