import { expect } from 'chai';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { runPluginTest } from '../src/index.js';
import { esc, FIXTURES, itCatchesBrokenFixtures, KIT, readExpectations, sink, useTmpDir } from './helpers/self-test.js';

/** The backend fixtures of the one expectations file (fixtures/expectations.json). */
const expectations = readExpectations('backend');

describe('self-test: broken fixture backends fail exactly the test meant to catch them (int)', function () {
  this.timeout(120_000);
  const tmp = useTmpDir('rnt-selftest-');

  // backend fixture failures were never required to carry expected/actual
  itCatchesBrokenFixtures({ fixtures: expectations, requireExpectedActual: false, tmp });

  it('the backend template loads and passes what its README promises before the data plane exists', async function () {
    const template = join(KIT, '..', 'examples', 'backend-template');
    // `npm run build` builds the template too; a missing build is a failure, not a skip.
    expect(existsSync(join(template, 'dist', 'src', 'index.js')), 'examples/backend-template is not built (npm run build)').to.equal(true);
    const out = sink();
    const promised = [
      'backend.manifest.schema-valid',
      'backend.manifest.name-format',
      'backend.keys.generate',
      'backend.state.not-running-before-start',
      'backend.state.bad-start-config',
    ];
    const code = await runPluginTest({ plugin: template, grep: `(${promised.map(esc).join('|')}):`, stdout: out, stderr: out });
    expect(code, out.text).to.equal(0);
    const all = sink();
    const code2 = await runPluginTest({ plugin: template, grep: 'backend\\.state\\.already-running:', stdout: all, stderr: all });
    expect(code2).to.equal(1);
    expect(all.text).to.include('not implemented yet');
  });

  it('bad-manifest: exit code 2 with the loader error MANIFEST_INVALID', async () => {
    const out = sink();
    const code = await runPluginTest({ plugin: join(FIXTURES, 'bad-manifest'), stdout: out, stderr: out });
    expect(code).to.equal(2);
    expect(out.text).to.match(/MANIFEST_INVALID/);
  });

  it('missing plugin: exit code 2 with PLUGIN_NOT_FOUND', async () => {
    const out = sink();
    const code = await runPluginTest({ plugin: join(FIXTURES, 'does-not-exist'), stdout: out, stderr: out });
    expect(code).to.equal(2);
    expect(out.text).to.match(/PLUGIN_NOT_FOUND/);
  });
});
