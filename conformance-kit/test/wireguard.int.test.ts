import { expect } from 'chai';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { Ajv } from 'ajv';
import addFormatsModule from 'ajv-formats';
import { execFileSync } from 'node:child_process';
import { runPluginTest } from '../src/index.js';
import { RUN_DIR } from '../src/harness/index.js';
import type { ConformanceReport } from '../src/runner/report.js';

const addFormats = ((addFormatsModule as unknown as { default?: unknown }).default ?? addFormatsModule) as unknown as (a: Ajv) => Ajv;
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const KIT = join(ROOT, 'conformance-kit');
const WG = join(ROOT, 'plugins', 'backend-wireguard');

describe('runPluginTest against the WireGuard reference backend (int)', function () {
  this.timeout(180_000);
  let tmp: string;
  before(function () {
    if (!existsSync(join(WG, 'dist', 'src', 'index.js'))) this.skip();
    tmp = mkdtempSync(join(tmpdir(), 'rnt-wg-'));
  });
  after(() => tmp && rmSync(tmp, { recursive: true, force: true }));

  it('passes every required test in under 90 s; the JSON report validates against the schema; nothing is left behind', async () => {
    const output = join(tmp, 'report.json');
    let text = '';
    const out = new Writable({ write: (c: Buffer, _e, cb) => ((text += c.toString()), cb()) });
    const t0 = Date.now();
    const code = await runPluginTest({ plugin: WG, reporter: 'json', output, stdout: out, stderr: out, cwd: ROOT });
    const seconds = (Date.now() - t0) / 1000;
    const report = JSON.parse(readFileSync(output, 'utf8')) as ConformanceReport;
    const schema = JSON.parse(readFileSync(join(KIT, 'schemas', 'report.schema.json'), 'utf8')) as object;
    const ajv = addFormats(new Ajv({ allErrors: true, strict: false }));
    const validate = ajv.compile(schema);
    expect(validate(report), JSON.stringify(validate.errors)).to.equal(true);
    expect(code, text).to.equal(0);
    expect(report.summary.failed).to.equal(0);
    expect(report.summary.passed).to.be.greaterThan(25);
    for (const s of report.tests.filter((t) => t.status === 'skipped')) expect(s.skipReason).to.be.a('string');
    expect(seconds, `full run took ${seconds} s`).to.be.lessThan(90);
    // every run of ours is registered in RUN_DIR with our pid until its teardown finished
    const owned = readdirSync(RUN_DIR).filter((f) => readFileSync(join(RUN_DIR, f), 'utf8').trim() === String(process.pid));
    expect(owned, 'test networks of this process still registered').to.deep.equal([]);
    const left = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' });
    for (const f of owned) expect(left).not.to.include(f.replace(/\.pid$/, ''));
    console.log(`      (full WireGuard run: ${seconds.toFixed(1)} s, ${report.summary.passed} passed, ${report.summary.skipped} skipped)`);
  });

  it('writes JUnit XML with one testcase per test and skipped elements with reasons', async () => {
    const output = join(tmp, 'junit.xml');
    const out = new Writable({ write: (_c, _e, cb) => cb() });
    const code = await runPluginTest({ plugin: WG, reporter: 'junit', output, stdout: out, stderr: out, cwd: ROOT, grep: 'backend\\.(manifest|endpoints)\\.' });
    expect(code).to.equal(0);
    const xml = readFileSync(output, 'utf8');
    expect(xml).to.match(/^<\?xml/);
    expect(xml).to.include('<testcase classname="backend.manifest" name="backend.manifest.schema-valid:');
    expect(xml).to.match(/<skipped message="[^"]+"\/>/);
    expect(xml).to.include('failures="0"');
  });
});
