/**
 * Integration test (root): the three-node demo (`npm run demo`) passes with policy, Magic DNS and
 * the relay fail-over (and with each switched off), and Ctrl-C in the middle of a run removes
 * everything it made.
 */
import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { listProcesses } from '@rustynet/testbed';

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
    found.push(
      ...readdirSync('/var/run/wireguard')
        .filter((f) => f.startsWith(`rnm${runId}`))
        .map((f) => `socket ${f}`),
    );
  }
  found.push(
    ...readdirSync('/tmp')
      .filter((f) => f.startsWith(`rustynet-mesh-${runId}-`))
      .map((f) => `dir /tmp/${f}`),
  );
  if (existsSync('/etc/netns')) {
    found.push(
      ...readdirSync('/etc/netns')
        .filter((f) => f.startsWith(`rnt-${runId}-`))
        .map((f) => `resolv.conf dir /etc/netns/${f}`),
    );
  }
  for (const p of listProcesses()) {
    if (p.cmdline.includes(`rustynet-mesh-${runId}-`) || p.cmdline.includes(`rnm${runId}`)) found.push(`process ${p.pid} ${p.cmdline}`);
  }
  return found;
}

function runIdOf(output: string): string {
  const m = /rustynet-mesh-([0-9a-f]{4})-/.exec(output);
  if (!m) throw new Error(`no run id in demo output:\n${output}`);
  return m[1];
}

describe('examples/three-node-mesh demo', function () {
  this.timeout(180_000);

  it('passes with policy, DNS and relay: every check ok, exit 0, nothing left behind', async () => {
    const r = await runDemo([]);
    expect(r.code, r.output).to.equal(0);
    expect(r.output).to.match(/from \\ to\s+a\s+b\s+c/);
    expect(r.output).to.not.contain('FAIL');
    expect(r.output).to.contain('all 12 pings answered');
    // policy: the allowed flow answered, the denied one dropped, explain names the rule
    expect(r.output).to.match(/ok {3}policy: TCP\/5201 b -> a allowed/);
    expect(r.output).to.match(/ok {3}policy: TCP\/5201 c -> a denied: no answer/);
    expect(r.output).to.match(/rustynet policy explain c a tcp\/5201[^\n]*\n\s+drop\s+rule deny-c-to-a-5201/);
    // dns: pings by name from every node
    expect(r.output).to.match(/a: ping b\.rustynet -> \S+ answered/);
    expect(r.output).to.contain('ok   dns: 6 pings by name: all answered');
    // relay: status shows the relay path while blocked, then direct again, with times
    expect(r.output).to.match(/^\s+b\s+127\.0\.0\.1:\d+\s+relay\s/m);
    expect(r.output).to.match(/ok {3}relay: pings a -> b answered through the relay: first reply \d+\.\d+ s after the block/);
    expect(r.output).to.match(/ok {3}relay: both nodes back on path direct: after \d+\.\d+ s/);
    expect(r.output).to.match(/(\d+) of \1 checks passed/);
    expect(r.output).to.contain('everything removed');
    expect(leftovers(runIdOf(r.output))).to.deep.equal([]);
  });

  it('--no-policy --no-dns --no-relay runs the plain mesh only', async () => {
    const r = await runDemo(['--no-policy', '--no-dns', '--no-relay']);
    expect(r.code, r.output).to.equal(0);
    expect(r.output).to.contain('all 12 pings answered');
    expect(r.output).to.not.match(/policy:|dns:|relay:|resolv\.conf/);
    expect(r.output).to.contain('creating 3 network namespaces');
    expect(r.output).to.contain('everything removed');
    expect(leftovers(runIdOf(r.output))).to.deep.equal([]);
  });

  it('Ctrl-C while the daemons start removes everything and exits 130', async () => {
    const r = await runDemo([], /starting rustynetd on every node/);
    expect(r.code, r.output).to.equal(130);
    expect(r.output).to.contain('interrupted');
    expect(leftovers(runIdOf(r.output))).to.deep.equal([]);
  });

  it('Ctrl-C while the direct path is blocked (relay phase) removes everything and exits 130', async () => {
    const r = await runDemo([], /relay: blocking the direct underlay path/);
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
