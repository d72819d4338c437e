// Running a real `rustynetd` inside a Mesh node's network namespace, with optional node flags
// (e.g. --cpu-prof), and talking to it over its local API.
import { createWriteStream } from 'node:fs';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { RUSTYNETD_BIN, RUSTYNETD_NODE_FLAGS } from '../../core/testbed/dist/src/index.js';
import { LocalApiClient } from '../../core/cli/dist/src/api-client.js';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Live daemons started by {@link startDaemon} (for signal-time cleanup). */
export const liveDaemons = new Set();

/**
 * Writes the node's daemon config (Mesh.daemonConfig) and spawns
 * `ip netns exec <ns> node [nodeArgs] rustynetd.js --config <file>`.
 * @returns { pid, t0, api, waitUp(version), stop() } — t0 is performance.now() just before spawn.
 */
export async function startDaemon(mesh, node, { backend, nodeArgs = [], cwd, deltaFile }) {
  await mkdir(join(node.dir, 'state'), { recursive: true, mode: 0o700 });
  const config = mesh.daemonConfig(node, backend);
  if (deltaFile) config.netmap = { ...config.netmap, deltaFile };
  await writeFile(node.configFile, `${JSON.stringify(config, null, 2)}\n`, { mode: 0o600 });
  const out = createWriteStream(node.outFile, { flags: 'a', mode: 0o600 });
  const t0 = performance.now();
  const child = node.host.spawn(process.execPath, [...RUSTYNETD_NODE_FLAGS, ...nodeArgs, RUSTYNETD_BIN, '--config', node.configFile], {
    cwd,
    stdin: 'ignore',
    stdout: 'pipe',
    stderr: 'pipe',
    buffer: false,
  });
  child.stdout?.pipe(out, { end: false });
  child.stderr?.pipe(out, { end: false });
  let exited = false;
  const done = Promise.resolve(child).then(
    () => void (exited = true),
    () => void (exited = true),
  );
  const api = new LocalApiClient(node.socket, 60_000);
  const h = {
    pid: child.pid,
    t0,
    api,
    node,
    /** Polls status (every 10 ms) until `up` with netmap `version`; resolves with performance.now(). */
    async waitUp(version, timeoutMs = 60_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        if (exited) throw new Error(`rustynetd on ${node.id} exited early; see ${node.outFile} and ${node.logFile}`);
        try {
          const s = await new LocalApiClient(node.socket, 2_000).status();
          if (s.state === 'up' && s.netmap?.version === version) return performance.now();
          if (s.state === 'failed') throw new Error(`rustynetd on ${node.id} failed: ${JSON.stringify(s.lastRejection)}`);
        } catch (err) {
          if (/failed:/.test(String(err?.message))) throw err;
        }
        if (Date.now() > deadline) throw new Error(`rustynetd on ${node.id} not up with netmap ${version} after ${timeoutMs} ms`);
        await sleep(10);
      }
    },
    /** SIGTERM (clean stop: tunnel removed), SIGKILL after 30 s. */
    async stop() {
      if (!exited) {
        child.kill('SIGTERM');
        const t = setTimeout(() => child.kill('SIGKILL'), 30_000);
        await done;
        clearTimeout(t);
      }
      await new Promise((r) => out.end(r));
      liveDaemons.delete(h);
    },
  };
  liveDaemons.add(h);
  return h;
}

/** Writes a signed netmap document to the node's netmap file atomically (no reload). */
export async function writeNetmap(node, signed, path = node.netmapFile) {
  const tmp = `${path}.tmp`;
  await writeFile(tmp, JSON.stringify(signed), { mode: 0o644 });
  await rename(tmp, path);
}

/** The last audit record of `type` in the node's state dir for `protocol`, or undefined. */
export async function lastAudit(node, protocol, type) {
  const text = await readFile(join(node.dir, 'state', protocol, 'audit.log'), 'utf8').catch(() => '');
  const lines = text.trimEnd().split('\n');
  for (let i = lines.length - 1; i >= 0; i--) {
    if (!lines[i]) continue;
    const r = JSON.parse(lines[i]);
    if (r.type === type) return r;
  }
  return undefined;
}

/**
 * Times `POST /v1/netmap/reload` on the daemon's local API, request to response, in ms; throws
 * unless the answer is `applied` with `expectVersion`.
 */
export async function timedReload(d, expectVersion) {
  const t0 = performance.now();
  const r = await d.api.reloadNetmap();
  const ms = performance.now() - t0;
  if (r?.result !== 'applied' || r?.version !== expectVersion) {
    throw new Error(`reload of version ${expectVersion} did not apply: ${JSON.stringify(r)}`);
  }
  return ms;
}

/** Number of peers on the node's WireGuard device (`wg show <if> peers`). */
export async function wgPeerCount(node) {
  const r = await node.host.exec('wg', ['show', node.ifname, 'peers']);
  return r.stdout.split('\n').filter(Boolean).length;
}
