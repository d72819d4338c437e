/**
 * Cleanup and its proof: stale runtime files of earlier runs removed at start, runtime files of
 * this run removed at the end (also synchronously, from signal handlers), the search for
 * anything that survived, and the scan for leaked private key material.
 */
import { execFile } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { readFile, readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { MESH_IF_PREFIX, NETNS_ETC } from './constants.js';
import type { MeshNode } from './node-config.js';
import { listProcesses, socketLive } from './processes.js';
import type { BackendProfiles } from './profiles.js';
import { REFERENCE_BACKEND_PROFILES } from './reference-defaults.js';

/**
 * Removes runtime sockets of earlier mesh runs (`rnm*`) that nothing listens on any more, and
 * resolv.conf directories of test-network namespaces that no longer exist.
 * @param profiles backend profiles whose `runtimeDir` to sweep, default the reference backends'.
 * @returns the paths removed.
 */
export async function cleanStaleRuntimeFiles(profiles: BackendProfiles = REFERENCE_BACKEND_PROFILES): Promise<string[]> {
  const removed: string[] = [];
  for (const profile of Object.values(profiles)) {
    const dir = profile.runtimeDir;
    if (!dir || !existsSync(dir)) continue;
    for (const f of await readdir(dir)) {
      if (!f.startsWith(MESH_IF_PREFIX)) continue;
      const p = join(dir, f);
      if (!(await socketLive(p))) {
        await rm(p, { force: true });
        removed.push(p);
      }
    }
  }
  // resolv.conf directories of test-network namespaces that no longer exist.
  if (existsSync(NETNS_ETC)) {
    for (const d of await readdir(NETNS_ETC)) {
      if (!/^rnt-[0-9a-f]+-/.test(d) || existsSync(join('/run/netns', d))) continue;
      const dir = join(NETNS_ETC, d);
      const files = await readdir(dir).catch(() => ['?']);
      if (files.every((f) => f === 'resolv.conf')) {
        await rm(dir, { recursive: true, force: true });
        removed.push(dir);
      }
    }
  }
  return removed;
}

/** Removes every runtime file the profiled backends create for the nodes' interfaces. */
export function removeRuntimeFilesSync(nodes: readonly MeshNode[], profiles: BackendProfiles): void {
  for (const n of nodes) {
    for (const profile of Object.values(profiles)) {
      for (const f of profile.runtimeFiles(n.ifname)) rmSync(f, { force: true });
    }
  }
}

/** What {@link findLeftovers} looks for. */
export interface LeftoverScope {
  nodes: readonly MeshNode[];
  runId: string;
  /** Name prefix of the run's namespaces. */
  netnsPrefix: string;
  workDir: string;
  profiles: BackendProfiles;
  /** nftables table the policy plugin owns, when the mesh loads one. */
  policyTable: string | undefined;
}

/**
 * What survived: tunnel interfaces named like this mesh's in its namespaces (and the policy
 * table), or with `namespacesGone` the namespaces themselves and their resolv.conf directories;
 * runtime files of the backends, daemon/backend/relay processes of this run, API sockets.
 */
export async function findLeftovers(scope: LeftoverScope, opts: { namespacesGone?: boolean } = {}): Promise<string[]> {
  const found: string[] = [];
  if (!opts.namespacesGone) {
    for (const n of scope.nodes) {
      const r = await n.host.exec('ip', ['-o', 'link', 'show'], { reject: false });
      for (const line of r.stdout.split('\n')) {
        const name = /^\d+:\s+([^:@\s]+)/.exec(line)?.[1];
        if (name && name.startsWith(`${MESH_IF_PREFIX}${scope.runId}`)) found.push(`interface ${name} in ${n.host.netns}`);
      }
      if (scope.policyTable !== undefined) {
        const t = await n.host.exec('nft', ['list', 'tables'], { reject: false });
        if (t.stdout.includes(scope.policyTable)) found.push(`nftables table ${scope.policyTable} in ${n.host.netns}`);
      }
    }
  } else {
    const ns = await new Promise<string>((resolve) => execFile('ip', ['netns', 'list'], (_e, so) => resolve(so)));
    for (const line of ns.split('\n')) {
      const name = line.split(' ')[0];
      if (name && name.startsWith(scope.netnsPrefix)) found.push(`namespace ${name}`);
    }
  }
  for (const n of scope.nodes) {
    for (const profile of Object.values(scope.profiles)) {
      for (const f of profile.runtimeFiles(n.ifname)) if (existsSync(f)) found.push(`file ${f}`);
    }
    if (existsSync(n.socket)) found.push(`socket ${n.socket}`);
    if (opts.namespacesGone && existsSync(join(NETNS_ETC, n.host.netns))) found.push(`directory ${join(NETNS_ETC, n.host.netns)}`);
  }
  const names = new Set(Object.values(scope.profiles).flatMap((p) => p.processNames));
  for (const p of listProcesses()) {
    if (p.pid === process.pid) continue;
    const mine = p.cmdline.includes(scope.workDir) || scope.nodes.some((n) => p.cmdline.includes(n.ifname));
    if (mine && (names.has(p.comm) || p.cmdline.includes('rustynetd') || p.cmdline.includes('relay serve'))) {
      found.push(`process ${p.pid} ${p.comm}: ${p.cmdline}`);
    }
  }
  return found;
}

/** Private key material found in the 0600 (group/other-unreadable) files under `dirs`. */
export async function collectSecrets(dirs: readonly string[]): Promise<Array<{ file: string; token: string }>> {
  const out: Array<{ file: string; token: string }> = [];
  const walk = async (dir: string): Promise<void> => {
    for (const e of await readdir(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) await walk(p);
      else if (e.isFile() && ((await stat(p)).mode & 0o077) === 0) {
        const text = await readFile(p, 'utf8');
        for (const line of text.split('\n')) {
          const t = line.trim();
          if (t.length >= 16 && !t.startsWith('-----')) out.push({ file: p, token: t });
        }
      }
    }
  };
  for (const d of dirs) await walk(d);
  return out;
}

/**
 * Searches every process's `/proc/<pid>/cmdline` and `/proc/<pid>/environ` and each of `files`
 * for any of `secrets`.
 * @returns where each secret was found (empty when none leaked).
 * @throws Error when `secrets` is empty (the scan would prove nothing).
 */
export async function scanForSecrets(secrets: ReadonlyArray<{ file: string; token: string }>, files: readonly string[]): Promise<string[]> {
  if (secrets.length === 0) throw new Error('no private key material found in the key directories: the scan would prove nothing');
  const hits: string[] = [];
  const scan = (where: string, text: string): void => {
    for (const s of secrets) if (text.includes(s.token)) hits.push(`${where} contains the key of ${s.file}`);
  };
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    for (const f of ['cmdline', 'environ']) {
      try {
        scan(`/proc/${d}/${f}`, readFileSync(`/proc/${d}/${f}`).toString('utf8'));
      } catch {
        /* gone or not readable */
      }
    }
  }
  for (const f of files) {
    const text = await readFile(f, 'utf8').catch(() => '');
    scan(f, text);
  }
  return hits;
}
