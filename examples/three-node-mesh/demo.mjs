#!/usr/bin/env node
// Three Rustynet nodes, each in its own network namespace on a shared underlay, form a real
// encrypted mesh through the real `rustynetd`; every node pings every other over the mesh.
//
//   sudo npm run demo                                  (from the repository root; builds first)
//   sudo node examples/three-node-mesh/demo.mjs [--backend <plugin>]... [--keep]
//
// Everything it makes (namespaces, daemons, tunnel devices, files) is removed at the end, on
// failure and on Ctrl-C. Exit status: 0 every ping answered, 1 a ping failed or a step failed,
// 2 bad arguments or missing prerequisites.
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const repoRoot = resolve(here, '..', '..');
const DEFAULT_BACKEND = '@rustynet/backend-wireguard';

function usage() {
  return `Usage: sudo node examples/three-node-mesh/demo.mjs [--backend <plugin>]... [--keep]

Starts three rustynetd nodes (a, b, c) in network namespaces, signs a netmap for them, shows
each node's status and pings every node from every other over IPv4 and IPv6 mesh addresses.

Options:
  --backend <plugin>  backend plugin (package name or path); repeat to run the mesh once per
                      backend (the netmap carries key material for all). Default ${DEFAULT_BACKEND}
  --keep              leave the mesh running after the pings until Ctrl-C
  -h, --help          show this help

Exit status: 0 all pings answered; 1 a ping or a step failed; 2 bad arguments or missing prerequisites.`;
}

function parseArgs(argv) {
  const opts = { backends: [], keep: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--keep') opts.keep = true;
    else if (a === '-h' || a === '--help') opts.help = true;
    else if (a === '--backend' && argv[i + 1] && !argv[i + 1].startsWith('--')) opts.backends.push(argv[++i]);
    else if (a.startsWith('--backend=')) opts.backends.push(a.slice('--backend='.length));
    else throw new Error(`unknown or incomplete argument: ${a}`);
  }
  if (opts.backends.length === 0) opts.backends.push(DEFAULT_BACKEND);
  return opts;
}

const started = Date.now();
function say(line) {
  const t = ((Date.now() - started) / 1000).toFixed(1).padStart(5);
  process.stdout.write(`[demo ${t}s] ${line}\n`);
}
function indent(text) {
  return text
    .trimEnd()
    .split('\n')
    .map((l) => (l.trim() === '' ? '' : `    ${l}`))
    .join('\n');
}

let opts;
try {
  opts = parseArgs(process.argv.slice(2));
} catch (err) {
  process.stderr.write(`demo: ${err.message}\n\n${usage()}\n`);
  process.exit(2);
}
if (opts.help) {
  process.stdout.write(`${usage()}\n`);
  process.exit(0);
}

if (!existsSync(join(repoRoot, 'core/cli/dist/src/testing/mesh.js'))) {
  process.stderr.write('demo: Rustynet is not built yet. Run: npm run build   (or: sudo npm run demo, which builds first)\n');
  process.exit(2);
}
const { Mesh, checkPrerequisites } = await import('@rustynet/cli/testing');

const problems = checkPrerequisites(opts.backends);
if (problems.length > 0) {
  process.stderr.write(`demo: cannot run the three-node mesh:\n${problems.map((p) => `  - ${p}`).join('\n')}\n`);
  process.exit(2);
}

let mesh;
let interrupted = false;
let failures = 0;
let releaseKeep;

// Registered before the test network exists, so it runs before the harness's own cleanup
// handler: daemons first get the chance to stop cleanly, then namespaces go.
function onSignal(signal) {
  if (interrupted) return;
  interrupted = true;
  if (releaseKeep) {
    say(`${signal}: stopping the mesh`);
  } else {
    process.stderr.write(`\ndemo: ${signal}: interrupted, stopping daemons and removing everything\n`);
  }
  mesh?.emergencyStopSync();
  setImmediate(() => {
    say('removed daemons, namespaces, tunnel devices and files');
    process.exit(releaseKeep ? (failures > 0 ? 1 : 0) : 130);
  });
}
process.on('SIGINT', () => onSignal('SIGINT'));
process.on('SIGTERM', () => onSignal('SIGTERM'));

let exitCode = 0;
try {
  say(`backends: ${opts.backends.join(', ')}`);
  mesh = await Mesh.create({ backends: opts.backends, cwd: repoRoot, log: say, logLevel: 'info' });
  say(`run ${mesh.runId}: namespaces ${mesh.nodes.map((n) => n.host.netns).join(', ')}; work dir ${mesh.workDir}`);
  for (const n of mesh.nodes) {
    say(`node ${n.id}: underlay ${n.host.underlayAddress}:51820, mesh ${n.v4} ${n.v6}, interface ${n.ifname}`);
  }

  const netmap = mesh.netmap(1);
  say(`signing netmap version 1 (${netmap.nodes.length} nodes, keys: ${Object.keys(netmap.nodes[0].keys).join(', ')}, expires ${netmap.expiresAt}) with rustynet netmap sign`);
  const signed = await mesh.sign(netmap);
  await mesh.publish(signed);

  for (const backend of opts.backends) {
    if (interrupted) break;
    say(`starting rustynetd on every node with backend ${backend}`);
    await mesh.startDaemons(backend, 1);
    say('all daemons are up with netmap version 1');
    for (const n of mesh.nodes) {
      say(`rustynet status (node ${n.id}):`);
      process.stdout.write(`${indent(await mesh.statusText(n.id))}\n`);
    }
    say('pinging every node from every other over the mesh (IPv4 / IPv6)');
    const results = await mesh.pingMatrix();
    process.stdout.write(`${indent(Mesh.renderMatrix(results, mesh.nodes.map((n) => n.id)))}\n`);
    const failed = results.filter((r) => !r.ok);
    failures += failed.length;
    say(`rustynet status (node ${mesh.nodes[0].id}) after the pings: handshakes and byte counters`);
    process.stdout.write(`${indent(await mesh.statusText(mesh.nodes[0].id))}\n`);
    if (failed.length === 0) say(`${backend}: all ${results.length} pings answered`);
    else say(`${backend}: ${failed.length} of ${results.length} pings FAILED: ${failed.map((r) => `${r.from}->${r.to} (${r.address})`).join(', ')}`);

    if (opts.keep && backend === opts.backends.at(-1)) {
      say(`--keep: the mesh stays up. Try:  RUSTYNET_SOCKET=${mesh.nodes[0].socket} node core/cli/dist/src/bin/rustynet.js status`);
      say(`                                 ip netns exec ${mesh.nodes[0].host.netns} ping ${mesh.nodes[1].v4}`);
      say('press Ctrl-C to stop and remove everything');
      await new Promise((r) => (releaseKeep = r));
    }
    const exits = await mesh.stopDaemons();
    const unclean = Object.entries(exits).filter(([, e]) => e.code !== 0);
    if (unclean.length > 0) {
      failures += unclean.length;
      say(`daemons that did not stop cleanly: ${unclean.map(([id, e]) => `${id} (${JSON.stringify(e)})`).join(', ')}`);
      for (const [id] of unclean) process.stdout.write(`${indent(await mesh.tail(id))}\n`);
    } else {
      say('all daemons stopped cleanly');
    }
  }
  exitCode = failures > 0 ? 1 : 0;
} catch (err) {
  process.stderr.write(`demo: FAILED: ${err?.message ?? err}\n`);
  exitCode = 1;
} finally {
  if (!interrupted && mesh) {
    say('tearing down: daemons, namespaces, tunnel devices, files');
    await mesh.destroy();
    const left = await mesh.leftovers({ namespacesGone: true });
    if (left.length > 0) {
      say(`WARNING: left behind: ${left.join('; ')}`);
      exitCode = exitCode || 1;
    } else {
      say('everything removed');
    }
  }
}
if (!interrupted) {
  say(exitCode === 0 ? 'demo passed: every node reached every other over the encrypted mesh' : 'demo FAILED');
  process.exit(exitCode);
}
