import { expect } from 'chai';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { runPluginTest } from '../src/index.js';
import { FIXTURES, idsWithStatus, readReport, ROOT, sink, useTmpDir } from './helpers/self-test.js';

describe('runner options --list, --bail, --keep-logs (int)', function () {
  this.timeout(180_000);
  const tmp = useTmpDir('rnt-runner-');

  it('--list prints ids, gates and titles of every test and runs nothing', async () => {
    const out = sink();
    const code = await runPluginTest({
      plugin: join(ROOT, 'plugins', 'backend-wireguard'),
      list: true,
      stdout: out,
      stderr: out,
      cwd: ROOT,
    });
    expect(code).to.equal(0);
    expect(out.text).to.match(/^backend\.manifest\.schema-valid\s+-\s+rustynet-plugin\.json/m);
    expect(out.text).to.match(/^backend\.fault\.handshake-flood\s+udpTransport\s+/m);
    expect(out.text).not.to.include('passed');
    const json = sink();
    await runPluginTest({
      plugin: join(ROOT, 'plugins', 'backend-wireguard'),
      list: true,
      reporter: 'json',
      grep: 'backend\\.fault\\.',
      stdout: json,
      stderr: json,
      cwd: ROOT,
    });
    const listed = (JSON.parse(json.text) as { tests: { id: string }[] }).tests.map((t) => t.id);
    expect(listed).to.deep.equal([
      'backend.fault.process-killed',
      'backend.fault.host-killed',
      'backend.fault.handshake-flood',
      'backend.fault.underlay-outage',
    ]);
  });

  it('--bail stops at the first failure; --keep-logs writes commands, process output and the timeline per test', async () => {
    const output = join(tmp(), 'report.json');
    const logs = join(tmp(), 'logs');
    const out = sink();
    const code = await runPluginTest({
      plugin: join(FIXTURES, 'leaves-ip6-rule'),
      grep: '(backend\\.state\\.not-running-after-stop|backend\\.peers\\.ping-two-peers):',
      bail: true,
      keepLogs: logs,
      reporter: 'json',
      output,
      stdout: out,
      stderr: out,
      cwd: ROOT,
    });
    expect(code).to.equal(1);
    const report = readReport(output);
    expect(idsWithStatus(report, 'failed'), out.text).to.deep.equal(['backend.state.not-running-after-stop']);
    expect(
      report.tests.map((t) => t.id),
      'nothing ran after the failure',
    ).to.deep.equal(['backend.state.not-running-after-stop']);
    const dir = join(logs, 'backend.state.not-running-after-stop', 'd');
    expect(existsSync(join(dir, 'commands.jsonl')), readdirSync(logs).join(',')).to.equal(true);
    const commands = readFileSync(join(dir, 'commands.jsonl'), 'utf8');
    expect(commands).to.include('"rule"');
    expect(commands).to.include('"exitCode"');
    expect(
      readdirSync(dir).some((f) => /^process-\d+\.log$/.test(f)),
      readdirSync(dir).join(','),
    ).to.equal(true);
    expect(existsSync(join(dir, 'timeline.json'))).to.equal(true);
    expect(report.startedAt).to.match(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  });
});
