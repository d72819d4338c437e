/**
 * Backend profiles (what the testbed must know about a backend beyond its manifest) and the
 * checks a run makes before it creates anything: root, tools, a build, relay capabilities.
 */
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { BASE_TOOLS } from './constants.js';
import { RUSTYNET_BIN, RUSTYNETD_BIN } from './programs.js';
import { REFERENCE_BACKEND_PROFILES } from './reference-defaults.js';

/** What the mesh needs to know about a backend plugin beyond its manifest (for checks and cleanup). */
export interface BackendProfile {
  /** Programs that must be on PATH; each inner list is a set of alternatives (any one will do). */
  tools: string[][];
  /** Process names (`/proc/<pid>/comm`) the backend starts; none may survive shutdown. */
  processNames: string[];
  /** Runtime files the backend creates per interface; none may survive shutdown. */
  runtimeFiles(ifname: string): string[];
  /** Glob-free directory + name prefix of runtime files, for stale-file cleanup at start. */
  runtimeDir?: string;
}

/** Backend profiles by plugin spec (package name or path). */
export type BackendProfiles = Readonly<Record<string, BackendProfile>>;

function which(tool: string): boolean {
  const path = process.env['PATH'] ?? '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
  for (const dir of [...path.split(':'), '/usr/sbin', '/sbin']) {
    try {
      if (dir && statSync(join(dir, tool)).isFile()) return true;
    } catch {
      /* not here */
    }
  }
  return false;
}

/**
 * Checks what a mesh run needs: root, the base tools and each backend's tools (and `dig` with
 * `opts.dns`), and a build.
 * @param opts.profiles backend profiles to take tools from, default the reference backends'.
 * @returns readable problems; empty when everything is there.
 */
export function checkPrerequisites(backends: readonly string[], opts: { dns?: boolean; profiles?: BackendProfiles } = {}): string[] {
  const profiles = opts.profiles ?? REFERENCE_BACKEND_PROFILES;
  const problems: string[] = [];
  if (typeof process.getuid === 'function' && process.getuid() !== 0) {
    problems.push('must run as root (it creates network namespaces and tunnel devices): use sudo');
  }
  const missing = [...BASE_TOOLS, ...(opts.dns ? ['dig'] : [])].filter((t) => !which(t));
  for (const b of backends) {
    for (const alternatives of profiles[b]?.tools ?? []) {
      if (!alternatives.some(which)) missing.push(alternatives.join(' or '));
    }
  }
  if (missing.length > 0) {
    problems.push(`missing tools: ${[...new Set(missing)].join(', ')} (sudo bash scripts/bootstrap.sh installs them)`);
  }
  for (const bin of [RUSTYNET_BIN, RUSTYNETD_BIN]) {
    if (!existsSync(bin)) problems.push(`${bin} is missing: build first (npm run build)`);
  }
  return problems;
}

/**
 * Why a mesh with `MeshOptions.relay` cannot move `backend`'s traffic through the relay, or
 * null when it can: the plugin must be found and built (its manifest's `entry` exists) and claim
 * the `udpTransport` and `roaming` capabilities, without which the daemon's path controller never
 * switches a peer (docs/path-controller.md).
 */
export async function relayUnsupportedReason(backend: string, cwd = process.cwd()): Promise<string | null> {
  let found: Awaited<ReturnType<typeof import('@rustynet/daemon').readManifest>>;
  try {
    // Loaded on demand, as before the move: a broken daemon build fails this check only.
    const { readManifest } = await import('@rustynet/daemon');
    found = await readManifest(backend, cwd);
  } catch (err) {
    return `${backend}: manifest not readable: ${(err as Error).message}`;
  }
  if (!existsSync(join(found.dir, found.manifest.entry)))
    return `${backend} is not built (${join(found.dir, found.manifest.entry)} is missing)`;
  const caps: Record<string, unknown> = { ...found.manifest.capabilities };
  const missing = ['udpTransport', 'roaming'].filter((c) => caps[c] !== true);
  if (missing.length > 0) {
    return `${backend} does not claim ${missing.join(' and ')} in its manifest (the path controller only relays backends that claim udpTransport and roaming)`;
  }
  return null;
}
