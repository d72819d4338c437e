import { expect } from 'chai';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { Ajv } from 'ajv';
import addFormatsModule from 'ajv-formats';
import { runPluginTest } from '../src/index.js';
import type { ConformanceReport } from '../src/runner/report.js';

const addFormats = ((addFormatsModule as unknown as { default?: unknown }).default ?? addFormatsModule) as unknown as (a: Ajv) => Ajv;
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const KIT = join(ROOT, 'conformance-kit');
const FIXTURES = join(KIT, 'fixtures');
const PLUGIN = join(ROOT, 'plugins', 'policy-nftables');

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

/** Broken policy fixtures (each wraps the real plugin by package name) and the test meant to catch each. */
export const POLICY_FIXTURES: Record<string, { target: string; control: string }> = {
  'policy-not-atomic': { target: 'policy.update.no-gap', control: 'policy.enforce.matrix-ipv4' },
  'policy-allows-all': { target: 'policy.enforce.default-deny', control: 'policy.state.already-running' },
  'policy-leaves-table': { target: 'policy.teardown.clean', control: 'policy.state.stop-idempotent' },
};

describe('policy suite against @rustynet/policy-nftables and broken fixtures (int, root)', function () {
  this.timeout(180_000);
  let tmp: string;
  before(function () {
    if (!existsSync(join(PLUGIN, 'dist', 'src', 'index.js'))) this.skip();
    tmp = mkdtempSync(join(tmpdir(), 'rnt-policy-'));
  });
  after(() => tmp && rmSync(tmp, { recursive: true, force: true }));

  it('the reference plugin passes every test in under 60 s; the JSON report validates; skips carry reasons', async () => {
    const output = join(tmp, 'report.json');
    const out = sink();
    const t0 = Date.now();
    const code = await runPluginTest({ plugin: PLUGIN, reporter: 'json', output, stdout: out, stderr: out, cwd: ROOT });
    const seconds = (Date.now() - t0) / 1000;
    const report = JSON.parse(readFileSync(output, 'utf8')) as ConformanceReport;
    const schema = JSON.parse(readFileSync(join(KIT, 'schemas', 'report.schema.json'), 'utf8')) as object;
    const validate = addFormats(new Ajv({ allErrors: true, strict: false })).compile(schema);
    expect(validate(report), JSON.stringify(validate.errors)).to.equal(true);
    expect(code, out.text).to.equal(0);
    expect(report.plugin.kind).to.equal('policy');
    expect(report.summary.failed).to.equal(0);
    expect(report.summary.passed).to.be.greaterThan(12);
    for (const s of report.tests.filter((t) => t.status === 'skipped')) expect(s.skipReason).to.be.a('string');
    for (const t of report.tests) expect(t.id).to.match(/^policy\.[a-z0-9-]+\.[a-z0-9-]+$/);
    expect(seconds, `full run took ${seconds} s`).to.be.lessThan(60);
    console.log(`      (full policy run: ${seconds.toFixed(1)} s, ${report.summary.passed} passed, ${report.summary.skipped} skipped)`);
  });

  it('writes JUnit XML with policy.<area> class names', async () => {
    const output = join(tmp, 'junit.xml');
    const out = sink();
    const code = await runPluginTest({ plugin: PLUGIN, reporter: 'junit', output, stdout: out, stderr: out, cwd: ROOT, grep: 'policy\\.(manifest|counters)\\.' });
    expect(code, out.text).to.equal(0);
    const xml = readFileSync(output, 'utf8');
    expect(xml).to.include('<testcase classname="policy.manifest" name="policy.manifest.schema-valid:');
    expect(xml).to.match(/<skipped message="[^"]+"\/>/);
  });

  for (const [name, { target, control }] of Object.entries(POLICY_FIXTURES)) {
    it(`self-test: ${name} fails ${target} and passes ${control}`, async () => {
      const output = join(tmp, `${name}.json`);
      const out = sink();
      const code = await runPluginTest({ plugin: join(FIXTURES, name), grep: `(${esc(target)}|${esc(control)}):`, reporter: 'json', output, stdout: out, stderr: out, seed: 42, cwd: ROOT });
      const report = JSON.parse(readFileSync(output, 'utf8')) as ConformanceReport;
      expect(report.tests.filter((t) => t.status === 'failed').map((t) => t.id), out.text).to.deep.equal([target]);
      expect(report.tests.filter((t) => t.status === 'passed').map((t) => t.id), out.text).to.deep.equal([control]);
      expect(code).to.equal(1);
      const f = report.tests.find((t) => t.id === target)!.failure!;
      expect(f.step, 'failure names the step').to.be.a('string').and.not.equal('');
      expect(f.message).to.include(target);
      expect(f).to.have.property('expected');
      expect(f).to.have.property('actual');
    });
  }
});
