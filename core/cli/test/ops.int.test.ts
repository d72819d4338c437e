/**
 * Integration test (root): the operators' surface of real processes in network namespaces.
 *
 * Node a's rustynetd starts the way the systemd unit starts it, from the layout `rustynet service
 * install --root` wrote: no `--config`, the default config `$RUSTYNET_CONFIG_DIR/rustynetd.json`
 * (a temp root stands in for /), working directory `/`, a relative stateDir. Node b uses `--config` and a peer-label cap of 0.
 * The relay server runs with `--metrics-listen`. Checked over each namespace's own loopback:
 * `/metrics` (daemon metrics, per-peer series with the cap, process metrics without the doubled
 * prefix; the relay's `relay_server_*`), `/healthz` and `/readyz` (200 up; readyz 503 after
 * `rustynet down`), `rustynet metrics --json`, `rustynet status` (addresses; exit 0 up, 3 down,
 * 1 daemon gone), and that node a stops cleanly (exit 0) on SIGTERM.
 */
import { expect } from 'chai';
import { createWriteStream } from 'node:fs';
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TestHost } from '@rustynet/conformance-kit/harness';
import {
  Mesh,
  RELAY_PORT,
  RUSTYNET_BIN,
  RUSTYNETD_BIN,
  checkPrerequisites,
  pidRunning,
  runNodeProgram,
  sleep,
  type MeshNode,
} from '@rustynet/testbed';

const BACKEND = '@rustynet/backend-wireguard';
const REPO_ROOT = fileURLToPath(new URL('../../../../', import.meta.url));
const DAEMON_METRICS_PORT = 9469;
const RELAY_METRICS_PORT = 9470;

interface Proc {
  pid: number;
  kill(signal?: NodeJS.Signals): void;
  exited: Promise<number | null>;
}

function spawnIn(host: TestHost, args: string[], outFile: string, env: Record<string, string> = {}): Proc {
  const out = createWriteStream(outFile, { flags: 'a', mode: 0o600 });
  const child = host.spawn(process.execPath, args, {
    cwd: '/',
    env: { ...process.env, ...env },
    stdin: 'ignore',
    stdout: 'pipe',
    stderr: 'pipe',
    buffer: false,
    reject: false,
  });
  child.stdout?.pipe(out);
  child.stderr?.pipe(out);
  const exited = Promise.resolve(child).then((r) => (typeof r.exitCode === 'number' ? r.exitCode : null));
  return { pid: child.pid ?? -1, kill: (s = 'SIGTERM') => void child.kill(s), exited };
}

/** GET `http://127.0.0.1:<port><path>` from inside `host`'s namespace: its status and body. */
async function httpIn(host: TestHost, port: number, path: string): Promise<{ status: number; body: string }> {
  const script = `fetch('http://127.0.0.1:${port}${path}').then(async (r) => process.stdout.write(JSON.stringify({ status: r.status, body: await r.text() })), (e) => { process.stdout.write(JSON.stringify({ status: 0, body: String(e) })); })`;
  const r = await host.exec(process.execPath, ['-e', script]);
  return JSON.parse(r.stdout) as { status: number; body: string };
}

/** The value of the first sample line starting with `series` (`name{labels}`), or undefined. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

function pick(o: Record<string, unknown>, keys: string[]): Record<string, unknown> {
  return Object.fromEntries(keys.filter((k) => k in o).map((k) => [k, o[k]]));
}

async function waitUntil(what: string, pred: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const t0 = Date.now();
  while (!(await pred())) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(200);
  }
}

describe('operators: default config, metrics, health and status exit codes (namespaces)', function () {
  this.timeout(240_000);
  let mesh: Mesh | undefined;
  const procs = new Map<string, Proc>();
  const m = (): Mesh => {
    if (!mesh) throw new Error('mesh not created (see the before-all hook error)');
    return mesh;
  };
  const rn = (args: string[], env: Record<string, string> = {}) => runNodeProgram(RUSTYNET_BIN, args, { env });

  before(async function () {
    const problems = checkPrerequisites([BACKEND]);
    if (problems.length > 0) throw new Error(`prerequisites: ${problems.join('; ')}`);
    mesh = await Mesh.create({
      backends: [BACKEND],
      cwd: REPO_ROOT,
      nodes: ['a', 'b'],
      relay: true,
      pollIntervalMs: 500,
      logLevel: 'info',
    });
    await mesh.publish(await mesh.sign(mesh.netmap(1)));

    const relayHost = mesh.relayHost as TestHost;
    const relayArgs = [
      RUSTYNET_BIN,
      'relay',
      'serve',
      '--listen',
      `${relayHost.underlayAddress}:${RELAY_PORT}`,
      '--netmap',
      mesh.relayNetmapFile,
    ];
    relayArgs.push(
      '--control-plane-key',
      mesh.cpPublicKey,
      '--poll-interval',
      '1000',
      '--metrics-listen',
      `127.0.0.1:${RELAY_METRICS_PORT}`,
      // The mesh's netmap lists the relay's identity key: nodes register only with a relay
      // that proves it.
      '--identity-key',
      mesh.relayIdentityKeyFile,
    );
    procs.set('relay', spawnIn(relayHost, relayArgs, join(mesh.workDir, 'relay-ops.out')));
    await waitUntil('the relay /healthz', async () => (await httpIn(relayHost, RELAY_METRICS_PORT, '/healthz')).status === 200, 20_000);

    const a = mesh.node('a');
    const b = mesh.node('b');
    // Node a: the layout `rustynet service install` makes (under a temp root instead of /), its
    // default config kept for node, key, log and metrics (loopback :9469); the mesh's paths put
    // in, stateDir relative to the config's folder.
    const root = join(a.dir, 'root');
    const inst = await rn(['service', 'install', '--root', root, '--node', 'a', '--control-plane-key', mesh.cpPublicKey, '--json']);
    if (inst.code !== 0) throw new Error(`service install: ${inst.stderr}`);
    const etc = join(root, 'etc', 'rustynet');
    const installed = JSON.parse(await readFile(join(etc, 'rustynetd.json'), 'utf8')) as Record<string, unknown>;
    const mine = mesh.daemonConfig(a, BACKEND);
    const cfgA = {
      ...installed,
      ...pick(mine, ['socket', 'identityKeyFile', 'netmap', 'backend', 'plugins', 'pathProbe']),
      stateDir: '../../state-default',
    };
    await writeFile(join(etc, 'rustynetd.json'), `${JSON.stringify(cfgA, null, 2)}\n`, { mode: 0o600 });
    procs.set('a', spawnIn(a.host, [RUSTYNETD_BIN], a.outFile, { RUSTYNET_CONFIG_DIR: etc }));
    // Node b: --config, and no peer gets its own label.
    await mkdir(join(b.dir, 'state'), { recursive: true, mode: 0o700 });
    const cfgB = {
      ...mesh.daemonConfig(b, BACKEND),
      metrics: { listen: { host: '127.0.0.1', port: DAEMON_METRICS_PORT }, peerLabelLimit: 0 },
    };
    await writeFile(b.configFile, `${JSON.stringify(cfgB, null, 2)}\n`, { mode: 0o600 });
    procs.set('b', spawnIn(b.host, [RUSTYNETD_BIN, '--config', b.configFile], b.outFile));
    await mesh.waitFor((_id, s) => s.state === 'up' && s.peers.length === 1, 'both nodes up with 1 peer', 90_000);
  });

  after(async () => {
    for (const p of procs.values()) p.kill('SIGTERM');
    await Promise.all([...procs.values()].map((p) => Promise.race([p.exited, sleep(15_000)])));
    for (const p of procs.values()) if (pidRunning(p.pid)) p.kill('SIGKILL');
    await mesh?.destroy();
  });

  const node = (id: string): MeshNode => m().node(id);

  it('node a runs from $RUSTYNET_CONFIG_DIR/rustynetd.json with cwd / and config-relative paths', async () => {
    const s = await m().status('a');
    expect(s.state).to.equal('up');
    // stateDir "../../state-default" resolved from the config's folder, not from cwd (/).
    expect((await stat(join(node('a').dir, 'root', 'state-default', 'audit.log'))).isFile()).to.equal(true);
    const st = await rn(['status', '--socket', node('a').socket]);
    console.log(`      ${st.stdout.split('\n').slice(0, 2).join(' | ')}`);
    expect(st.code, st.stderr).to.equal(0);
    expect(st.stdout).to.include(`addresses ${node('a').v4}/`);
    const json = JSON.parse((await rn(['status', '--json', '--socket', node('a').socket])).stdout) as { addresses: string[] };
    expect(json.addresses.some((x) => x.startsWith(`${node('a').v4}/`))).to.equal(true);
  });

  it('daemon /metrics, /healthz, /readyz answer on the namespace loopback; per-peer series after traffic', async () => {
    const a = node('a');
    expect(await a.host.ping(node('b').v4, { count: 3 })).to.equal(true);
    const health = await httpIn(a.host, DAEMON_METRICS_PORT, '/healthz');
    const ready = await httpIn(a.host, DAEMON_METRICS_PORT, '/readyz');
    console.log(`      a /healthz ${health.status} ${health.body.trim()}; /readyz ${ready.status}`);
    expect(health.status).to.equal(200);
    expect(ready.status).to.equal(200);
    const metrics = await httpIn(a.host, DAEMON_METRICS_PORT, '/metrics');
    expect(metrics.status).to.equal(200);
    const t = metrics.body;
    expect(sample(t, 'rustynet_peers')).to.equal(1);
    expect(sample(t, 'rustynet_netmap_expiry_seconds')).to.be.greaterThan(0);
    expect(t).to.match(/^rustynet_process_cpu_seconds_total /m);
    expect(t).not.to.include('rustynet_process_process_');
    const rx = sample(t, 'rustynet_peer_rx_bytes{peer="b"}');
    const age = sample(t, 'rustynet_peer_handshake_age_seconds{peer="b"}');
    const direct = sample(t, 'rustynet_peer_path{peer="b",path="direct"}');
    console.log(`      a: peer b rx ${rx} B, handshake age ${age} s, direct ${direct}`);
    expect(rx).to.be.greaterThan(0);
    expect(age).to.be.within(0, 600);
    expect(direct).to.equal(1);
    expect(sample(t, 'rustynet_peer_label_overflow')).to.equal(0);
    expect((await httpIn(a.host, DAEMON_METRICS_PORT, '/nope')).status).to.equal(404);
  });

  it('the peer-label cap sums peers beyond it under peer="_other"', async () => {
    const t = (await httpIn(node('b').host, DAEMON_METRICS_PORT, '/metrics')).body;
    expect(t).not.to.include('rustynet_peer_rx_bytes{peer="a"}');
    expect(sample(t, 'rustynet_peer_rx_bytes{peer="_other"}')).to.be.a('number');
    expect(sample(t, 'rustynet_peer_label_overflow')).to.equal(1);
  });

  it('rustynet metrics reads the same metrics over the local API (--json, --match)', async () => {
    const r = await rn(['metrics', '--json', '--socket', node('a').socket]);
    expect(r.code, r.stderr).to.equal(0);
    const families = JSON.parse(r.stdout) as Array<{ name: string; type: string; samples: Array<{ value: number }> }>;
    const peers = families.find((f) => f.name === 'rustynet_peers');
    expect(peers?.type).to.equal('gauge');
    expect(peers?.samples[0]?.value).to.equal(1);
    const only = await rn(['metrics', '--match', 'rustynet_peer_rx', '--socket', node('a').socket]);
    expect(only.stdout).to.include('rustynet_peer_rx_bytes{peer="b"}');
    expect(only.stdout).not.to.include('rustynet_peers ');
  });

  it('relay /metrics exposes relay_server_* and /healthz, /readyz answer 200', async () => {
    const host = m().relayHost as TestHost;
    const t = (await httpIn(host, RELAY_METRICS_PORT, '/metrics')).body;
    for (const name of [
      'relay_server_packets_total',
      'relay_server_bytes_total',
      'relay_server_forwarded_packets_total',
      'relay_server_drops_total',
      'relay_server_registrations_total',
      'relay_server_sessions',
    ]) {
      expect(t, name).to.include(`# TYPE ${name}`);
    }
    await waitUntil(
      'relay registrations',
      async () => {
        const body = (await httpIn(host, RELAY_METRICS_PORT, '/metrics')).body;
        return (sample(body, 'relay_server_registrations_total') ?? 0) >= 2;
      },
      30_000,
    );
    console.log(`      relay: sessions ${sample((await httpIn(host, RELAY_METRICS_PORT, '/metrics')).body, 'relay_server_sessions')}`);
    expect((await httpIn(host, RELAY_METRICS_PORT, '/healthz')).status).to.equal(200);
    expect((await httpIn(host, RELAY_METRICS_PORT, '/readyz')).status).to.equal(200);
    expect(t).to.match(/^rustynet_relay_process_cpu_seconds_total /m);
  });

  it('status exits 3 when the node is down (readyz 503, healthz 200) and 1 when the daemon is gone', async () => {
    const a = node('a');
    const down = await rn(['down', '--socket', a.socket]);
    expect(down.code, down.stderr).to.equal(0);
    const st = await rn(['status', '--socket', a.socket]);
    expect(st.code).to.equal(3);
    expect(st.stdout).to.include('node a: down');
    const stJson = await rn(['status', '--json', '--socket', a.socket]);
    expect(stJson.code).to.equal(3);
    expect((JSON.parse(stJson.stdout) as { state: string }).state).to.equal('down');
    expect((await httpIn(a.host, DAEMON_METRICS_PORT, '/readyz')).status).to.equal(503);
    expect((await httpIn(a.host, DAEMON_METRICS_PORT, '/healthz')).status).to.equal(200);
    expect((await rn(['up', '--socket', a.socket])).code).to.equal(0);
    await waitUntil('node a ready again', async () => (await httpIn(a.host, DAEMON_METRICS_PORT, '/readyz')).status === 200, 30_000);

    const p = procs.get('a') as Proc;
    p.kill('SIGTERM');
    expect(await Promise.race([p.exited, sleep(15_000).then(() => 'timeout')])).to.equal(0);
    procs.delete('a');
    const gone = await rn(['status', '--socket', a.socket]);
    console.log(`      after stop: status exit ${gone.code}: ${gone.stderr.trim()}`);
    expect(gone.code).to.equal(1);
    expect((await httpIn(a.host, DAEMON_METRICS_PORT, '/healthz')).status).to.equal(0);
  });
});
