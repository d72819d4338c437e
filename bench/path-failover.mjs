// Path fail-over timing with real components (prints, does not assert): two `rustynetd` daemons
// (WireGuard backend, wireguard-go) and a `rustynet relay serve` in network namespaces made by the
// conformance-kit harness (underlay 198.18.0.0/24; removed at the end, on failure and on SIGINT).
// The direct path a<->b is blocked with nftables (blockPath) and unblocked, CYCLES times; it
// prints the time until both daemons report `relay` and a ping passes, and until both are `direct`.
// Needs root and built packages: npx tsc -b core/daemon core/cli plugins/relay plugins/backend-wireguard conformance-kit
// Run: node bench/path-failover.mjs [cycles]
import { mkdtempSync, writeFileSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { exitWithHelpIfAsked } from './lib/help.mjs';

exitWithHelpIfAsked(import.meta.url);
const ROOT = fileURLToPath(new URL('..', import.meta.url)).replace(/\/$/, '');
const CYCLES = Number(process.argv[2] ?? 3);
const { TestNetwork } = await import(`${ROOT}/conformance-kit/dist/src/harness/index.js`);
const d = await import(`${ROOT}/core/daemon/dist/src/index.js`);

const dir = mkdtempSync(join(tmpdir(), 'rn-path-failover-'));
const hex = randomBytes(2).toString('hex');
const net = await TestNetwork.create({ hosts: ['a', 'b', 'r'] });
const procs = [];
const log = (...a) => console.log(new Date().toISOString(), ...a);
const cleanup = async () => {
  for (const p of procs) {
    try {
      p.kill('SIGTERM');
    } catch {}
  }
  await sleep(1500);
  for (const p of procs) {
    try {
      if (p.exitCode === null) p.kill('SIGKILL');
    } catch {}
  }
  await net.destroy();
  rmSync(dir, { recursive: true, force: true });
};
process.on('SIGINT', () => {
  void cleanup().then(() => process.exit(130));
});
try {
  const [A, B, R] = ['a', 'b', 'r'].map((n) => net.host(n));
  const cp = d.generateEd25519KeyPair();
  const services = d.createHostServices({ stateDir: join(dir, 'gen'), logLevel: 'silent' });
  const wg = await d.loadPlugin(`${ROOT}/plugins/backend-wireguard`, { services, expectKind: 'backend' });
  const nodes = [];
  for (const [i, h] of [A, B].entries()) {
    const id = d.generateEd25519KeyPair();
    await d.writeKeyFile(join(dir, h.name, 'id.key'), id.privateKeyPem);
    const kp = await wg.instance.generateKeyPair(join(dir, h.name, 'keys'));
    nodes.push({
      id: h.name,
      addresses: [`100.64.0.${i + 1}/32`],
      endpoints: [{ host: h.underlayAddress, port: 51820 }],
      keys: { wireguard: kp.publicKey },
      identityKey: id.publicKeyB64,
      probePort: 41641,
    });
  }
  const now = Date.now();
  const nm = {
    version: 1,
    issuedAt: new Date(now - 1000).toISOString(),
    expiresAt: new Date(now + 3600_000).toISOString(),
    nodes,
    relays: [{ id: 'r1', endpoint: { host: R.underlayAddress, port: 3478 } }],
  };
  writeFileSync(join(dir, 'netmap.json'), JSON.stringify(d.signNetmap(nm, cp.privateKeyPem)));
  const relay = R.spawn(
    'node',
    [
      `${ROOT}/core/cli/dist/src/bin/rustynet.js`,
      'relay',
      'serve',
      '--listen',
      `${R.underlayAddress}:3478`,
      '--netmap',
      join(dir, 'netmap.json'),
      '--control-plane-key',
      cp.publicKeyB64,
    ],
    { all: true },
  );
  procs.push(relay);
  for (const h of [A, B]) {
    const cfg = {
      node: h.name,
      stateDir: join(dir, h.name, 'state'),
      socket: join(dir, h.name, 'd.sock'),
      controlPlaneKey: cp.publicKeyB64,
      identityKeyFile: join(dir, h.name, 'id.key'),
      netmap: { file: join(dir, 'netmap.json'), pollIntervalMs: 1000 },
      backend: {
        plugin: `${ROOT}/plugins/backend-wireguard`,
        interfaceName: `rne${hex}${h.name}`,
        keyDirectory: join(dir, h.name, 'keys'),
        listenPort: 51820,
        persistentKeepalive: 1,
      },
      plugins: [{ plugin: `${ROOT}/plugins/relay` }],
      pathProbe: { port: 41641 },
      log: { level: 'info', file: join(dir, h.name, 'daemon.log') },
    };
    writeFileSync(join(dir, h.name, 'cfg.json'), JSON.stringify(cfg));
    procs.push(h.spawn('node', [`${ROOT}/core/cli/dist/src/bin/rustynetd.js`, '--config', join(dir, h.name, 'cfg.json')], { all: true }));
  }
  const status = async (h) => (await d.localApiRequest(join(dir, h.name, 'd.sock'), 'GET', '/v1/status')).json;
  for (let i = 0; i < 100; i++) {
    try {
      const [sa, sb] = [await status(A), await status(B)];
      if (sa.state === 'up' && sb.state === 'up') break;
    } catch {}
    await sleep(200);
  }
  log('status a', JSON.stringify((await status(A)).peers));
  log('ping b from a (direct):', await A.ping('100.64.0.2', { attempts: 10, timeoutS: 1 }));

  const pingUntil = async (deadlineMs) => {
    const t0 = Date.now();
    while (Date.now() - t0 < deadlineMs) {
      const r = await A.exec('ping', ['-c', '1', '-W', '0.2', '100.64.0.2'], { reject: false });
      if (r.exitCode === 0) return Date.now();
      await sleep(20);
    }
    return null;
  };
  const pathUntil = async (want, deadlineMs) => {
    const t0 = Date.now();
    while (Date.now() - t0 < deadlineMs) {
      const [sa, sb] = [await status(A), await status(B)];
      if (sa.peers[0]?.path === want && sb.peers[0]?.path === want) return Date.now();
      await sleep(50);
    }
    return null;
  };

  const results = [];
  for (let c = 0; c < CYCLES; c++) {
    await A.blockPath(B);
    await B.blockPath(A);
    const tBlock = Date.now();
    const tRelayPath = await pathUntil('relay', 10000);
    const tRelayPing = await pingUntil(10000);
    const viaRelay = await A.ping('100.64.0.2', { attempts: 3, timeoutS: 1 });
    await A.unblockPath(B);
    await B.unblockPath(A);
    const tUnblock = Date.now();
    const tDirect = await pathUntil('direct', 20000);
    const direct = await A.ping('100.64.0.2', { attempts: 3, timeoutS: 1 });
    const r = {
      cycle: c + 1,
      relayPathMs: tRelayPath && tRelayPath - tBlock,
      firstPingViaRelayMs: tRelayPing && tRelayPing - tBlock,
      pingViaRelay: viaRelay,
      directPathMs: tDirect && tDirect - tUnblock,
      pingDirect: direct,
    };
    results.push(r);
    log(JSON.stringify(r));
    await sleep(1000);
  }
  console.table(results);
  const metrics = (await d.localApiRequest(join(dir, 'a', 'd.sock'), 'GET', '/metrics')).body;
  log(
    metrics
      .split('\n')
      .filter((l) => l.startsWith('rustynet_path_'))
      .join('\n'),
  );
  log(
    readFileSync(join(dir, 'a', 'daemon.log'), 'utf8')
      .split('\n')
      .filter((l) => l.includes('path switched') || l.includes('"level":50') || l.includes('"level":40'))
      .join('\n'),
  );
} catch (err) {
  console.error('E2E FAILED', err);
  process.exitCode = 1;
} finally {
  await cleanup();
}
