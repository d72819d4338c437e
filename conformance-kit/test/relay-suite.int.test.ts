import { expect } from 'chai';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { execFileSync } from 'node:child_process';
import { Ajv } from 'ajv';
import addFormatsModule from 'ajv-formats';
import { runPluginTest } from '../src/index.js';
import { RUN_DIR } from '../src/harness/index.js';
import { relayTests } from '../src/suites/relay/index.js';
import type { ConformanceReport } from '../src/runner/report.js';

const addFormats = ((addFormatsModule as unknown as { default?: unknown }).default ?? addFormatsModule) as unknown as (a: Ajv) => Ajv;
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const KIT = join(ROOT, 'conformance-kit');
const RELAY = join(ROOT, 'plugins', 'relay');

describe('runPluginTest against the reference relay (int)', function () {
  this.timeout(180_000);
  let tmp: string;
  before(function () {
    if (!existsSync(join(RELAY, 'dist', 'src', 'index.js'))) this.skip();
    tmp = mkdtempSync(join(tmpdir(), 'rnt-relay-'));
  });
  after(() => tmp && rmSync(tmp, { recursive: true, force: true }));

  it('passes every relay test in under 60 s; the JSON report validates; nothing is left behind', async () => {
    const output = join(tmp, 'report.json');
    let text = '';
    const out = new Writable({ write: (c: Buffer, _e, cb) => ((text += c.toString()), cb()) });
    const t0 = Date.now();
    const code = await runPluginTest({ plugin: RELAY, reporter: 'json', output, stdout: out, stderr: out, cwd: ROOT });
    const seconds = (Date.now() - t0) / 1000;
    const report = JSON.parse(readFileSync(output, 'utf8')) as ConformanceReport;
    const schema = JSON.parse(readFileSync(join(KIT, 'schemas', 'report.schema.json'), 'utf8')) as object;
    const validate = addFormats(new Ajv({ allErrors: true, strict: false })).compile(schema);
    expect(validate(report), JSON.stringify(validate.errors)).to.equal(true);
    expect(code, text).to.equal(0);
    expect(report.plugin.kind).to.equal('relay');
    expect(report.tests.map((t) => t.id)).to.deep.equal(relayTests.map((t) => t.id));
    expect(report.summary.failed, text).to.equal(0);
    expect(report.summary.skipped, text).to.equal(0);
    expect(seconds, `full run took ${seconds} s`).to.be.lessThan(60);
    const owned = readdirSync(RUN_DIR).filter((f) => readFileSync(join(RUN_DIR, f), 'utf8').trim() === String(process.pid));
    expect(owned, 'test networks of this process still registered').to.deep.equal([]);
    const left = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' });
    for (const f of owned) expect(left).not.to.include(f.replace(/\.pid$/, ''));
    console.log(`      (full relay run: ${seconds.toFixed(1)} s, ${report.summary.passed} passed)`);
  });

  it('writes JUnit XML with one testcase per relay test', async () => {
    const output = join(tmp, 'junit.xml');
    const out = new Writable({ write: (_c, _e, cb) => cb() });
    const code = await runPluginTest({ plugin: RELAY, reporter: 'junit', output, stdout: out, stderr: out, cwd: ROOT, grep: 'relay\\.(manifest|state)\\.' });
    expect(code).to.equal(0);
    const xml = readFileSync(output, 'utf8');
    expect(xml).to.match(/^<\?xml/);
    expect(xml).to.include('<testcase classname="relay.manifest" name="relay.manifest.capabilities-match:');
    expect(xml).to.include('failures="0"');
  });
});
