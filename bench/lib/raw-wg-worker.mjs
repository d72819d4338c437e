#!/usr/bin/env node
// Raw-tool side of bench/daemon-wireguard.mjs. Runs INSIDE the raw network namespace
// (`ip netns exec <ns> node raw-wg-worker.mjs`), so its `wg`/`ip` children are spawned exactly
// like the daemon's (no `ip netns exec` per command). Reads one JSON command per stdin line,
// answers one JSON line per command on stdout. Times are wall-clock ms from spawn() to the
// child's exit (performance.now()), measured in this process.
//
// Commands:
//   {op:'setup', ifname, dir, listenPort, mtu, addresses, privateKey, peers:[{publicKey,endpoint,allowedIps}]}
//   {op:'full'}            reset (untimed); time `wg setconf`; reset; time `wg set` (all peers, same
//                          arguments the backend builds, packed like the backend packs them: one
//                          process up to its argument budget, ~3400 peers; more processes beyond);
//                          time `ip -batch` of the routes
//   {op:'change', port}    time one `wg set <if> peer <k0> endpoint ...:port persistent-keepalive off allowed-ips ...`
//   {op:'add'}             time `wg set` of one new peer + `ip -batch` of its routes; then remove it (untimed)
//   {op:'stop'}            delete the interface (wireguard-go exits) and exit
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync, chmodSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
// The backend's own packing of `wg set` argument lists (Linux refuses an execve whose argument
// list exceeds a quarter of the stack limit: E2BIG at ~10 000 peers in one process).
import { packWgSet } from '../../plugins/backend-wireguard/dist/src/wg-commands.js';

let cfg;
let wgGo;

function run(file, args, input) {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const c = spawn(file, args, { stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    c.stdout.on('data', (d) => (stdout += d));
    c.stderr.on('data', (d) => (stderr += d));
    c.on('error', reject);
    c.on('close', (code) => {
      const ms = performance.now() - t0;
      if (code !== 0) reject(new Error(`${file} ${args.slice(0, 3).join(' ')} ... exited ${code}: ${stderr.trim().slice(0, 500)}`));
      else resolve({ ms, stdout });
    });
    if (input !== undefined) c.stdin.end(input);
  });
}

const peerArgs = (p) => ['peer', p.publicKey, 'endpoint', p.endpoint, 'persistent-keepalive', 'off', 'allowed-ips', p.allowedIps.join(',')];
const routeLines = (peers, op) => peers.flatMap((p) => p.allowedIps.map((a) => `route ${op} ${a} dev ${cfg.ifname}\n`)).join('');

async function peerCount() {
  const r = await run('wg', ['show', cfg.ifname, 'peers']);
  return r.stdout.split('\n').filter(Boolean).length;
}

async function reset() {
  if ((await peerCount()) > 0) {
    for (const args of packWgSet(
      cfg.ifname,
      cfg.peers.map((p) => ['peer', p.publicKey, 'remove']),
    ))
      await run('wg', args);
  }
  await run('ip', ['-force', '-batch', '-'], routeLines(cfg.peers, 'del')).catch(() => undefined);
  if ((await peerCount()) !== 0) throw new Error('reset left peers behind');
}

async function setup(c) {
  cfg = c;
  mkdirSync(cfg.dir, { recursive: true, mode: 0o700 });
  chmodSync(cfg.dir, 0o700);
  const keyFile = join(cfg.dir, 'private.key');
  writeFileSync(keyFile, `${cfg.privateKey}\n`, { mode: 0o600 });
  const conf = [
    '[Interface]',
    `PrivateKey = ${cfg.privateKey}`,
    `ListenPort = ${cfg.listenPort}`,
    '',
    ...cfg.peers.flatMap((p) => [
      '[Peer]',
      `PublicKey = ${p.publicKey}`,
      `Endpoint = ${p.endpoint}`,
      `AllowedIPs = ${p.allowedIps.join(', ')}`,
      '',
    ]),
  ].join('\n');
  cfg.confFile = join(cfg.dir, 'full.conf');
  writeFileSync(cfg.confFile, conf, { mode: 0o600 });
  cfg.privateKey = undefined;
  wgGo = spawn('wireguard-go', ['-f', cfg.ifname], {
    stdio: 'ignore',
    env: { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin', WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD: '1' },
  });
  const sock = `/var/run/wireguard/${cfg.ifname}.sock`;
  const deadline = Date.now() + 10_000;
  while (!existsSync(sock)) {
    if (Date.now() > deadline || wgGo.exitCode !== null) throw new Error(`wireguard-go did not create ${sock}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  await run('wg', ['set', cfg.ifname, 'listen-port', String(cfg.listenPort), 'private-key', keyFile]);
  const lines = [...cfg.addresses.map((a) => `address add ${a} dev ${cfg.ifname}`), `link set dev ${cfg.ifname} mtu ${cfg.mtu} up`];
  await run('ip', ['-batch', '-'], lines.map((l) => `${l}\n`).join(''));
  return { wireguardGoPid: wgGo.pid };
}

async function full() {
  await reset();
  const setconf = (await run('wg', ['setconf', cfg.ifname, cfg.confFile])).ms;
  const n1 = await peerCount();
  await reset();
  let wgset = 0;
  for (const args of packWgSet(cfg.ifname, cfg.peers.map(peerArgs))) wgset += (await run('wg', args)).ms;
  const routes = (await run('ip', ['-batch', '-'], routeLines(cfg.peers, 'replace'))).ms;
  const n2 = await peerCount();
  if (n1 !== cfg.peers.length || n2 !== cfg.peers.length) throw new Error(`raw apply left ${n1}/${n2} peers, want ${cfg.peers.length}`);
  return { setconf, wgset, routes };
}

async function change(port) {
  const p = cfg.peers[0];
  const ep = p.endpoint.replace(/:\d+$/, `:${port}`);
  return { wgset: (await run('wg', ['set', cfg.ifname, ...peerArgs({ ...p, endpoint: ep })])).ms };
}

async function add(extra) {
  const wgset = (await run('wg', ['set', cfg.ifname, ...peerArgs(extra)])).ms;
  const routes = (await run('ip', ['-batch', '-'], routeLines([extra], 'replace'))).ms;
  await run('wg', ['set', cfg.ifname, 'peer', extra.publicKey, 'remove']);
  await run('ip', ['-force', '-batch', '-'], routeLines([extra], 'del'));
  return { wgset, routes };
}

const rl = createInterface({ input: process.stdin });
for await (const line of rl) {
  if (!line.trim()) continue;
  const msg = JSON.parse(line);
  let reply;
  try {
    if (msg.op === 'setup') reply = await setup(msg);
    else if (msg.op === 'full') reply = await full();
    else if (msg.op === 'change') reply = await change(msg.port);
    else if (msg.op === 'add') reply = await add(msg.peer);
    else if (msg.op === 'stop') {
      await run('ip', ['link', 'del', 'dev', cfg.ifname]).catch(() => undefined);
      process.stdout.write(`${JSON.stringify({ ok: true })}\n`);
      break;
    } else throw new Error(`unknown op ${msg.op}`);
    process.stdout.write(`${JSON.stringify({ ok: true, ...reply })}\n`);
  } catch (err) {
    process.stdout.write(`${JSON.stringify({ ok: false, error: String(err?.message ?? err) })}\n`);
  }
}
wgGo?.kill('SIGTERM');
process.exit(0);
