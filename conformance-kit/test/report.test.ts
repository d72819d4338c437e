import { expect } from 'chai';
import Mocha from 'mocha';
import { REPORT_SCHEMA_ID, summaryText, toJUnit, type ConformanceReport } from '../src/runner/report.js';
import { listTests, listText } from '../src/runner/list-tests.js';
import { isoSeconds } from '../src/runner/run-plugin-test.js';
import { setKitMeta } from '../src/suites/define.js';
import { compileReportSchema } from './helpers/report-schema.js';

function report(): ConformanceReport {
  return {
    $schema: REPORT_SCHEMA_ID,
    reportVersion: 1,
    kit: { name: '@rustynet/conformance-kit', version: '0.1.0' },
    apiVersion: '1.0',
    negotiatedApiVersion: '1.0',
    plugin: { spec: './x', name: 'x', version: '1.0.0', kind: 'backend' },
    manifest: null,
    profile: 'full',
    seed: 7,
    timeoutMultiplier: 1,
    grep: null,
    environment: { node: 'v20', platform: 'linux', arch: 'x64', kernel: '6', cpus: 2, tools: { iproute2: 'ip 6', nftables: null } },
    startedAt: '2026-01-01T00:00:00.000Z',
    finishedAt: '2026-01-01T00:00:01.000Z',
    durationMs: 1000,
    summary: { total: 3, passed: 1, failed: 1, skipped: 1 },
    result: 'failed',
    tests: [
      { id: 'backend.peers.ping-two-peers', title: 'ping', status: 'passed', durationMs: 12 },
      { id: 'backend.endpoints.roaming', title: 'roam', status: 'skipped', durationMs: 0, skipReason: 'no roaming', gate: 'roaming' },
      {
        id: 'backend.teardown.clean',
        title: 'clean <&>',
        status: 'failed',
        durationMs: 40,
        failure: {
          message: 'left "x" & <y>',
          type: 'ConformanceFailure',
          expected: 'nothing',
          actual: { links: ['rn0'] },
          step: 'compare',
        },
      },
    ],
    errors: [],
  };
}

describe('reports (unit)', () => {
  it('a report validates against schemas/report.schema.json', () => {
    const v = compileReportSchema();
    expect(v(report()), JSON.stringify(v.errors)).to.equal(true);
  });

  it('the schema rejects a skipped test without a reason and a failed test without failure', () => {
    const v = compileReportSchema();
    const r = report();
    delete r.tests[1].skipReason;
    expect(v(r)).to.equal(false);
    const r2 = report();
    delete r2.tests[2].failure;
    expect(v(r2)).to.equal(false);
  });

  it('JUnit XML escapes, counts, and marks skipped and failed cases', () => {
    const xml = toJUnit(report());
    expect(xml).to.match(/^<\?xml version="1.0"/);
    expect(xml).to.include('tests="3" failures="1" errors="0" skipped="1"');
    expect(xml).to.include('<skipped message="no roaming"/>');
    expect(xml).to.include('classname="backend.teardown"');
    expect(xml).to.include('clean &lt;&amp;&gt;');
    expect(xml).to.include('left &quot;x&quot; &amp; &lt;y&gt;');
    expect(xml).not.to.match(/<y>/);
  });

  it('JUnit testcase names are the stable ids alone; the title, gate and measurements are properties', () => {
    const r = report();
    r.tests[0].measurements = { backendCpuPercent: 17 };
    const xml = toJUnit(r);
    expect(xml).to.include('<testcase classname="backend.peers" name="backend.peers.ping-two-peers" time="0.012">');
    expect(xml).to.include('<property name="title" value="ping"/>');
    expect(xml).to.include('<property name="gate" value="roaming"/>');
    expect(xml).to.include('<property name="backendCpuPercent" value="17"/>');
    expect(xml).not.to.match(/name="[^"]*: /);
  });

  it('measurements validate; timestamps without milliseconds validate (older reports with them too)', () => {
    const v = compileReportSchema();
    const r = report();
    r.tests[0].measurements = { cpu: 3, outcome: 'restored itself' };
    r.startedAt = isoSeconds(new Date(Date.UTC(2026, 11, 7, 1, 2, 3, 456)));
    expect(r.startedAt).to.equal('2026-12-07T01:02:03Z');
    expect(v(r), JSON.stringify(v.errors)).to.equal(true);
    expect(v(report())).to.equal(true);
  });

  it('listTests lists ids, titles and gates in order, filtered by grep, and runs nothing', () => {
    const suite = new Mocha.Suite('s');
    let ran = 0;
    const a = new Mocha.Test('backend.x.one: first', () => void ran++);
    setKitMeta(a, { kitId: 'backend.x.one', kitGate: 'roaming' });
    const b = new Mocha.Test('backend.x.two: second', () => void ran++);
    suite.addTest(a);
    suite.addTest(b);
    expect(listTests(suite)).to.deep.equal([
      { id: 'backend.x.one', title: 'first', gate: 'roaming' },
      { id: 'backend.x.two', title: 'second' },
    ]);
    expect(listTests(suite, /two/).map((t) => t.id)).to.deep.equal(['backend.x.two']);
    expect(listText(listTests(suite)))
      .to.match(/backend\.x\.one\s+roaming\s+first\n/)
      .and.include('2 tests');
    expect(ran).to.equal(0);
  });

  it('a declared sessionReestablishSeconds is recorded (schema 1 to 60) and printed in the summary', () => {
    const v = compileReportSchema();
    const r = { ...report(), sessionReestablishSeconds: 40 };
    r.tests[0] = { ...r.tests[0], measurements: { sessionReestablishBoundMs: 40_000, sessionReestablishMs: 17_250 } };
    expect(v(r), JSON.stringify(v.errors)).to.equal(true);
    expect(summaryText(r)).to.include('sessionReestablishSeconds=40 (declared: tests that re-establish a session wait up to 40 s');
    expect(summaryText(report())).to.not.include('sessionReestablishSeconds');
    expect(v({ ...report(), sessionReestablishSeconds: 61 })).to.equal(false);
  });

  it('the summary lists failures, skips (not counted as passed) and the counts', () => {
    const s = summaryText(report());
    expect(s).to.include('1 passed, 1 failed, 1 skipped, 0 errors');
    expect(s).to.include('Skipped (not counted as passed)');
    expect(s).to.include('backend.endpoints.roaming: no roaming');
    expect(s).to.include('1) backend.teardown.clean');
    expect(s).to.include('FAILED');
  });
});
