import { expect } from 'chai';
import { join } from 'node:path';
import { runPluginTest } from '../src/index.js';
import {
  FIXTURES,
  idsWithStatus,
  itCatchesBrokenFixtures,
  readExpectations,
  readReport,
  ROOT,
  sink,
  useTmpDir,
} from './helpers/self-test.js';

/** The relay fixtures of the one expectations file (fixtures/expectations.json). */
const expectations = readExpectations('relay');

describe('self-test: broken relay fixtures fail exactly the test meant to catch them (int)', function () {
  this.timeout(120_000);
  const tmp = useTmpDir('rnt-relay-selftest-');

  itCatchesBrokenFixtures({ fixtures: expectations, tmp });

  it('a relay package without createRelayServer: every test that needs the server is SKIPPED with the reason', async () => {
    const output = join(tmp(), 'no-server.json');
    const out = sink();
    const code = await runPluginTest({
      plugin: join(FIXTURES, 'relay-shared', 'client-only'),
      reporter: 'json',
      output,
      stdout: out,
      stderr: out,
      cwd: ROOT,
    });
    const report = readReport(output);
    expect(code, out.text).to.equal(0);
    expect(idsWithStatus(report, 'passed'), out.text).to.deep.equal([
      'relay.manifest.capabilities-match',
      'relay.state.not-running-before-start',
    ]);
    const skipped = report.tests.filter((t) => t.status === 'skipped');
    expect(skipped.length).to.equal(report.tests.length - 2);
    for (const s of skipped) expect(s.skipReason, s.id).to.match(/does not export createRelayServer/);
  });
});
