/**
 * Integration test (root): the three-node demo (`npm run demo`) passes, and Ctrl-C in the
 * middle of a run removes everything it made.
 */
import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { listProcesses } from '../src/testing/mesh.js';

const REPO_ROOT = fileURLToPath(new URL('../../../../', import.meta.url));
const DEMO = fileURLToPath(new URL('../../../../examples/three-node-mesh/demo.mjs', import.meta.url));

interface DemoRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  output: string;
}

/** Runs the demo; `interruptWhen` sends SIGINT once the output matches it. */
function runDemo(args: string[], interruptWhen?: RegExp): Promise<DemoRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [DEMO, ...args], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    let sent = false;
    const onData = (d: Buffer): void => {
      output += d.toString();
      if (interruptWhen && !sent && interruptWhen.test(output)) {
        sent = true;
        child.kill('SIGINT');
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, output }));
  });
}

/** What a demo run with this run id left behind. */
function leftovers(runId: string): string[] {
  const found: string[] = [];
  const ns = readdirSync('/run/netns', { withFileTypes: true }).map((e) => e.name);
  found.push(...ns.filter((n) => n.startsWith(`rnt-${runId}-`)).map((n) => `namespace ${n}`));
  if (existsSync('/var/run/wireguard')) {
    found.push(...readdirSync('/var/run/wireguard').filter((f) => f.startsWith(`rnm${runId}`)).map((f) => `socket ${f}`));
  }
  found.push(...readdirSync('/tmp').filter((f) => f.startsWith(`rustynet-mesh-${runId}-`)).map((f) => `dir /tmp/${f}`));
  for (const p of listProcesses()) {
    if (p.cmdline.includes(`rustynet-mesh-${runId}-`) || p.cmdline.includes(`rnm${runId}`)) found.push(`process ${p.pid} ${p.cmdline}`);
  }
  return found;
}

function runIdOf(output: string): string {
  const m = /rustynet-mesh-([0-9a-f]{4})-/.exec(output);
  if (!m) throw new Error(`no run id in demo output:\n${output}`);
  return m[1]!;
}

describe('examples/three-node-mesh demo', function () {
  this.timeout(180_000);

  it('passes: every ping answered, exit 0, nothing left behind', async () => {
    const r = await runDemo([]);
    expect(r.code, r.output).to.equal(0);
    expect(r.output).to.match(/from \\ to\s+a\s+b\s+c/);
    expect(r.output).to.not.contain('FAIL');
    expect(r.output).to.contain('all 12 pings answered');
    expect(r.output).to.contain('everything removed');
    expect(leftovers(runIdOf(r.output))).to.deep.equal([]);
  });

  it('Ctrl-C while the daemons start removes everything and exits 130', async () => {
    const r = await runDemo([], /starting rustynetd on every node/);
    expect(r.code, r.output).to.equal(130);
    expect(r.output).to.contain('interrupted');
    expect(leftovers(runIdOf(r.output))).to.deep.equal([]);
  });

  it('bad arguments exit 2 with usage', async () => {
    const r = await runDemo(['--frobnicate']);
    expect(r.code).to.equal(2);
    expect(r.output).to.contain('Usage:');
  });
});
