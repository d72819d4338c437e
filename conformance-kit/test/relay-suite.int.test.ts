import { expect } from 'chai';
import { join } from 'node:path';
import { relayTests } from '../src/suites/relay/index.js';
import { itPassesReferenceRun, itWritesJunit, ROOT, useTmpDir } from './helpers/self-test.js';

const RELAY = join(ROOT, 'plugins', 'relay');

describe('runPluginTest against the reference relay (int)', function () {
  this.timeout(180_000);
  const tmp = useTmpDir('rnt-relay-', { requireBuilt: RELAY });

  itPassesReferenceRun({
    title: 'passes every relay test in under 90 s; the JSON report validates; nothing is left behind',
    plugin: RELAY,
    kind: 'relay',
    label: 'relay',
    maxSeconds: 90,
    leavesNothingBehind: true,
    check: (report, log) => {
      expect(report.tests.map((t) => t.id)).to.deep.equal(relayTests.map((t) => t.id));
      expect(report.summary.skipped, log).to.equal(0);
    },
    tmp,
  });

  itWritesJunit({
    title: 'writes JUnit XML with one testcase per relay test',
    plugin: RELAY,
    grep: 'relay\\.(manifest|state)\\.',
    expectXml: [/^<\?xml/, '<testcase classname="relay.manifest" name="relay.manifest.capabilities-match"', 'failures="0"'],
    tmp,
  });
});
