#!/usr/bin/env node
// Three Rustynet nodes, each in its own network namespace on a shared underlay, form a real
// encrypted mesh through the real `rustynetd`; every node pings every other over the mesh.
// On top (each on by default, each switchable off):
//   policy  @rustynet/policy-nftables enforces the netmap's ACL: an allowed and a denied flow;
//   dns     @rustynet/dns-magic answers <node>.rustynet: every node pings the others by name;
//   relay   a 4th namespace runs `rustynet relay serve`; the direct path a<->b is blocked and
//           traffic moves to the relay, then back to direct when unblocked (with the times).
// (The steps are in feature-steps.mjs.) Then (unless --netmap-files) the control plane, see
// control-phase.mjs: nodes enrol with `rustynet control serve` in its own namespace; a removed
// node is cut off.
//
//   sudo npm run demo                                  (from the repository root; builds first)
//   sudo node examples/three-node-mesh/demo.mjs [--backend <plugin>]... [--no-policy] [--no-dns] [--no-relay] [--netmap-files] [--keep]
//
// Everything it makes (namespaces, daemons, tunnel devices, resolv.conf files, files) is removed
// at the end, on failure and on Ctrl-C. Exit status: 0 every check passed, 1 a check or a step
// failed, 2 bad arguments or missing prerequisites.
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ACL, showDns, showPolicy, showRelay } from './feature-steps.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const repoRoot = resolve(here, '..', '..');
const DEFAULT_BACKEND = '@rustynet/backend-wireguard';
/** The netmap always carries key material for both reference backends, so one signed map serves either. */
const REFERENCE_BACKENDS = ['@rustynet/backend-wireguard', '@rustynet/backend-openvpn'];

function usage() {
  return `Usage: sudo node examples/three-node-mesh/demo.mjs [--backend <plugin>]... [--no-policy] [--no-dns] [--no-relay] [--netmap-files] [--keep]

Starts three rustynetd nodes (a, b, c) in network namespaces, signs a netmap for them, shows
each node's status and pings every node from every other over IPv4 and IPv6 mesh addresses.
Then, unless switched off:
  policy  the netmap's ACL (enforced by @rustynet/policy-nftables) lets TCP/5201 from b to a
          through and drops TCP/5201 from c to a; prints rustynet policy explain for both;
  dns     @rustynet/dns-magic serves the zone rustynet; every node pings the others by name
          (ping b.rustynet), through /etc/netns/<ns>/resolv.conf in its own namespace;
  relay   a 4th namespace runs rustynet relay serve; the direct underlay path a<->b is blocked
          with nftables: status shows path relay and pings are still answered; unblocked, the
          path returns to direct. Prints the measured times.
Then (unless --netmap-files) the control plane: a new three-node mesh whose nodes enrol with
rustynet control serve (in its own namespace) using one-time pre-auth keys; every node pings
every other; rustynet control nodes remove c cuts c off (its peers drop it, it reaches no one).

Options:
  --backend <plugin>  backend plugin (package name or path; \`wireguard\` and \`openvpn\` name the
                      reference backends); repeat to run the mesh once per backend. The netmap
                      carries key material for both reference backends and every one given,
                      so one signed map serves either. Default ${DEFAULT_BACKEND}
  --no-policy         do not load the policy plugin (no ACL in the netmap)
  --no-dns            do not load Magic DNS (no resolv.conf, no pings by name)
  --no-relay          no relay host, no path probing, no fail-over step
  --netmap-files      signed netmap files only (air-gapped sites): skip the control-plane phase
  --keep              leave the mesh running after the checks until Ctrl-C
  -h, --help          show this help

Exit status: 0 all checks passed; 1 a check or a step failed; 2 bad arguments or missing prerequisites.`;
}

function parseArgs(argv) {
  const opts = { backends: [], keep: false, policy: true, dns: true, relay: true, control: true };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--keep') opts.keep = true;
    else if (a === '--no-policy') opts.policy = false;
    else if (a === '--no-dns') opts.dns = false;
    else if (a === '--no-relay') opts.relay = false;
    else if (a === '-h' || a === '--help') opts.help = true;
    else if (a === '--netmap-files') opts.control = false;
    else if (a === '--backend' && argv[i + 1] && !argv[i + 1].startsWith('--')) opts.backends.push(argv[++i]);
    else if (a.startsWith('--backend=')) opts.backends.push(a.slice('--backend='.length));
    else throw new Error(`unknown or incomplete argument: ${a}`);
  }
  if (opts.backends.length === 0) opts.backends.push(DEFAULT_BACKEND);
  // Short names for the reference backends: `--backend openvpn` = `--backend @rustynet/backend-openvpn`.
  opts.backends = opts.backends.map((b) =>
    /^[a-z0-9-]+$/.test(b) && REFERENCE_BACKENDS.includes(`@rustynet/backend-${b}`) ? `@rustynet/backend-${b}` : b,
  );
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
const secs = (ms) => (ms === null || ms === undefined ? 'n/a' : `${(ms / 1000).toFixed(2)} s`);

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

if (!existsSync(join(repoRoot, 'core/testbed/dist/src/index.js'))) {
  process.stderr.write('demo: Rustynet is not built yet. Run: npm run build   (or: sudo npm run demo, which builds first)\n');
  process.exit(2);
}
const { Mesh, checkPrerequisites, relayUnsupportedReason, rustynet, DNS_ZONE } = await import('@rustynet/testbed');

const problems = checkPrerequisites([...new Set([...opts.backends, ...REFERENCE_BACKENDS])], { dns: opts.dns });
if (problems.length > 0) {
  process.stderr.write(`demo: cannot run the three-node mesh:\n${problems.map((p) => `  - ${p}`).join('\n')}\n`);
  process.exit(2);
}

let mesh;
let interrupted = false;
let releaseKeep;
/** Every check of the run, for the summary: { backend, name, ok, skipped, detail }. */
const checks = [];
function check(backend, name, ok, detail = '') {
  checks.push({ backend, name, ok, skipped: false, detail });
  say(`${ok ? 'ok  ' : 'FAIL'} ${name}${detail ? `: ${detail}` : ''}`);
  return ok;
}
/** A step that could not run for this backend: listed as skip (never counted as passed). */
function skip(backend, name, reason) {
  checks.push({ backend, name, ok: true, skipped: true, detail: reason });
  say(`skip ${name}: ${reason}`);
}

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
    process.exit(releaseKeep ? (checks.some((c) => !c.ok) ? 1 : 0) : 130);
  });
}
process.on('SIGINT', () => onSignal('SIGINT'));
process.on('SIGTERM', () => onSignal('SIGTERM'));

let exitCode = 0;
try {
  say(
    `backends: ${opts.backends.join(', ')}; policy ${opts.policy ? 'on' : 'off'}, dns ${opts.dns ? 'on' : 'off'}, relay ${opts.relay ? 'on' : 'off'}`,
  );
  mesh = await Mesh.create({
    backends: [...new Set([...opts.backends, ...REFERENCE_BACKENDS])],
    cwd: repoRoot,
    log: say,
    logLevel: 'info',
    policy: opts.policy,
    ...(opts.policy && { acl: ACL }),
    dns: opts.dns,
    relay: opts.relay,
  });
  say(`run ${mesh.runId}: namespaces ${mesh.net.namespaces.join(', ')}; work dir ${mesh.workDir}`);
  for (const n of mesh.nodes) {
    say(`node ${n.id}: underlay ${n.host.underlayAddress}:51820, mesh ${n.v4} ${n.v6}, interface ${n.ifname}`);
  }
  if (mesh.relayHost) say(`relay host: underlay ${mesh.relayHost.underlayAddress}, relay server port 3478`);

  const netmap = mesh.netmap(1);
  say(
    `signing netmap version 1 (${netmap.nodes.length} nodes, keys: ${Object.keys(netmap.nodes[0].keys).join(', ')}` +
      `${netmap.acl ? `, ACL ${netmap.acl.rules.length} rules` : ''}${netmap.relays ? `, relay ${netmap.relays[0].id}` : ''}, expires ${netmap.expiresAt}) with rustynet netmap sign`,
  );
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
    process.stdout.write(
      `${indent(
        Mesh.renderMatrix(
          results,
          mesh.nodes.map((n) => n.id),
        ),
      )}\n`,
    );
    const failed = results.filter((r) => !r.ok);
    check(
      backend,
      `mesh: all ${results.length} pings answered`,
      failed.length === 0,
      failed.length ? `${failed.length} FAILED: ${failed.map((r) => `${r.from}->${r.to} (${r.address})`).join(', ')}` : '',
    );
    say(`rustynet status (node ${mesh.nodes[0].id}) after the pings: handshakes and byte counters`);
    process.stdout.write(`${indent(await mesh.statusText(mesh.nodes[0].id))}\n`);

    for (const [on, name, step] of [
      [opts.policy, 'policy', showPolicy],
      [opts.dns, 'dns', showDns],
      [opts.relay, 'relay', showRelay],
    ]) {
      if (!on || interrupted) continue;
      try {
        await step({ mesh, repoRoot, say, indent, secs, check, skip, rustynet, relayUnsupportedReason, DNS_ZONE }, backend);
      } catch (err) {
        check(backend, `${name}: step`, false, err?.message ?? String(err));
      }
    }

    if (opts.keep && backend === opts.backends.at(-1)) {
      say(`--keep: the mesh stays up. Try:  RUSTYNET_SOCKET=${mesh.nodes[0].socket} node core/cli/dist/src/bin/rustynet.js status`);
      say(
        `                                 ip netns exec ${mesh.nodes[0].host.netns} ping ${opts.dns ? `b.${DNS_ZONE}` : mesh.nodes[1].v4}`,
      );
      say('press Ctrl-C to stop and remove everything');
      await new Promise((r) => (releaseKeep = r));
    }
    const exits = await mesh.stopDaemons();
    const unclean = Object.entries(exits).filter(([, e]) => e.code !== 0);
    check(
      backend,
      'shutdown: all daemons stopped cleanly',
      unclean.length === 0,
      unclean.map(([id, e]) => `${id} (${JSON.stringify(e)})`).join(', '),
    );
    for (const [id] of unclean) process.stdout.write(`${indent(await mesh.tail(id))}\n`);
  }
  if (mesh.relayHost) {
    const r = await mesh.stopRelayServer();
    const line = r?.output
      .trim()
      .split('\n')
      .reverse()
      .find((l) => l.includes('forwarded'));
    if (line) say(line);
  }
} catch (err) {
  process.stderr.write(`demo: FAILED: ${err?.message ?? err}\n`);
  exitCode = 1;
} finally {
  if (!interrupted && mesh) {
    say(
      `tearing down: daemons, ${mesh.relayHost ? 'relay server, ' : ''}namespaces, tunnel devices, ${opts.dns ? 'resolv.conf files, ' : ''}work dir`,
    );
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
if (!interrupted && opts.control && exitCode === 0) {
  const { showControlPlane } = await import('./control-phase.mjs');
  for (const backend of opts.backends) {
    if (interrupted) break;
    try {
      await showControlPlane({
        Mesh,
        backend,
        repoRoot,
        say,
        indent,
        secs,
        check,
        rustynet,
        setMesh: (m) => (mesh = m),
        isInterrupted: () => interrupted,
      });
    } catch (err) {
      check(backend, 'control: step', false, err?.message ?? String(err));
    }
  }
}
if (!interrupted) {
  if (checks.some((c) => !c.ok)) exitCode = exitCode || 1;
  process.stdout.write('\nSummary\n');
  for (const c of checks) {
    const label = opts.backends.length > 1 ? `[${c.backend.replace('@rustynet/backend-', '')}] ` : '';
    process.stdout.write(`  ${c.skipped ? 'skip' : c.ok ? 'ok  ' : 'FAIL'}  ${label}${c.name}${c.detail ? `: ${c.detail}` : ''}\n`);
  }
  const run = checks.filter((c) => !c.skipped);
  const skipped = checks.length - run.length;
  process.stdout.write(`  ${run.filter((c) => c.ok).length} of ${run.length} checks passed${skipped ? `, ${skipped} skipped` : ''}\n\n`);
  const worked = (prefix) => run.some((c) => c.name.startsWith(prefix));
  const shown = [
    worked('policy:') && 'the ACL',
    worked('dns:') && 'names',
    worked('relay:') && 'relay fail-over and return',
    worked('control:') && 'enrolment and removal through the control plane',
  ].filter(Boolean);
  say(
    exitCode === 0
      ? `demo passed: every node reached every other over the encrypted mesh${shown.length ? `; ${shown.join(', ')} worked` : ''}`
      : 'demo FAILED',
  );
  process.exit(exitCode);
}
