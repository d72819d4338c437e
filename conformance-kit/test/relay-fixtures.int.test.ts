import { expect } from 'chai';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { runPluginTest } from '../src/index.js';
import type { ConformanceReport } from '../src/runner/report.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const FIXTURES = join(ROOT, 'conformance-kit', 'fixtures');
const expectations = JSON.parse(readFileSync(join(FIXTURES, 'relay-shared', 'expectations.json'), 'utf8')) as Record<string, { target: string; control: string }>;

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

describe('self-test: broken relay fixtures fail exactly the test meant to catch them (int)', function () {
  this.timeout(120_000);
  let tmp: string;
  before(() => {
    tmp = mkdtempSync(join(tmpdir(), 'rnt-relay-selftest-'));
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
        cwd: ROOT,
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
      expect(f).to.have.property('expected');
      expect(f).to.have.property('actual');
    });
  }

  it('a relay package without createRelayServer: every test that needs the server is SKIPPED with the reason', async () => {
    const output = join(tmp, 'no-server.json');
    const out = sink();
    const code = await runPluginTest({ plugin: join(FIXTURES, 'relay-shared', 'client-only'), reporter: 'json', output, stdout: out, stderr: out, cwd: ROOT });
    const report = JSON.parse(readFileSync(output, 'utf8')) as ConformanceReport;
    expect(code, out.text).to.equal(0);
    const passed = report.tests.filter((t) => t.status === 'passed').map((t) => t.id);
    expect(passed, out.text).to.deep.equal(['relay.manifest.capabilities-match', 'relay.state.not-running-before-start']);
    const skipped = report.tests.filter((t) => t.status === 'skipped');
    expect(skipped.length).to.equal(report.tests.length - 2);
    for (const s of skipped) expect(s.skipReason, s.id).to.match(/does not export createRelayServer/);
  });
});
