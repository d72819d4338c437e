import { expect } from 'chai';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { runPluginTest } from '../src/index.js';
import type { ConformanceReport } from '../src/runner/report.js';

const KIT = fileURLToPath(new URL('../../', import.meta.url));
const FIXTURES = join(KIT, 'fixtures');
const expectations = JSON.parse(readFileSync(join(FIXTURES, 'expectations.json'), 'utf8')) as Record<string, { target: string; control: string }>;

function sink(): Writable & { text: string } {
  const w = new Writable({
    write(chunk: Buffer, _enc, cb) {
      w.text += chunk.toString();
      cb();
    },
  }) as Writable & { text: string };
  w.text = '';
  return w;
}

const esc = (id: string): string => id.replace(/\./g, '\\.');

describe('self-test: broken fixture backends fail exactly the test meant to catch them (int)', function () {
  this.timeout(120_000);
  let tmp: string;
  before(() => {
    tmp = mkdtempSync(join(tmpdir(), 'rnt-selftest-'));
  });
  after(() => rmSync(tmp, { recursive: true, force: true }));

  for (const [name, { target, control }] of Object.entries(expectations)) {
    it(`${name}: fails ${target} and passes ${control}`, async () => {
      const output = join(tmp, `${name}.json`);
      const out = sink();
      const code = await runPluginTest({
        plugin: join(FIXTURES, name),
        grep: `(${esc(target)}|${esc(control)}):`,
        reporter: 'json',
        output,
        stdout: out,
        stderr: out,
        seed: 42,
      });
      const report = JSON.parse(readFileSync(output, 'utf8')) as ConformanceReport;
      const failed = report.tests.filter((t) => t.status === 'failed').map((t) => t.id);
      const passed = report.tests.filter((t) => t.status === 'passed').map((t) => t.id);
      expect(failed, out.text).to.deep.equal([target]);
      expect(passed, out.text).to.deep.equal([control]);
      expect(code).to.equal(1);
      const f = report.tests.find((t) => t.id === target)!.failure!;
      expect(f.step, 'failure names the step').to.be.a('string').and.not.equal('');
      expect(f.message).to.include(target);
    });
  }

  it('the backend template loads and passes what its README promises before the data plane exists', async function () {
    const template = join(KIT, '..', 'examples', 'backend-template');
    // `npm run build` builds the template too; a missing build is a failure, not a skip.
    expect(existsSync(join(template, 'dist', 'src', 'index.js')), 'examples/backend-template is not built (npm run build)').to.equal(true);
    const out = sink();
    const promised = ['backend.manifest.schema-valid', 'backend.manifest.name-format', 'backend.keys.generate', 'backend.state.not-running-before-start', 'backend.state.bad-start-config'];
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
