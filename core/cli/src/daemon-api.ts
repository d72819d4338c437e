/**
 * The parts of `@rustynet/daemon` the CLI uses, as agreed in the project brief.
 *
 * The daemon is loaded with a dynamic import so that `rustynet --help`, `status`, `up`, `down`
 * and `plugin list` (which only talk to the local API socket) keep working even when the daemon
 * package is broken or mid-build; commands that need it fail with a clear `INTERNAL` error.
 */
import { RustynetError } from '@rustynet/plugin-api';
// Type-only: erased at run time, so the package is still loaded lazily by daemonModule().
import type * as DaemonPackage from '@rustynet/daemon';

export type { HostServices, LoadedPlugin, DaemonConfig } from '@rustynet/daemon';

/** The daemon's JSON configuration (`loadDaemonConfig`). */
export type DaemonConfigView = DaemonPackage.DaemonConfig;

/** A running daemon, as `rustynetd` drives it (start, stop, reload on SIGHUP). */
export type DaemonInstance = Pick<DaemonPackage.Daemon, 'start' | 'stop' | 'reload'> & Partial<Pick<DaemonPackage.Daemon, 'pollNow'>>;

/** The names of the `@rustynet/daemon` exports the CLI relies on. */
const REQUIRED = [
  'createHostServices',
  'loadPlugin',
  'signNetmap',
  'verifySignedNetmap',
  'generateEd25519KeyPair',
  'writeKeyFile',
  'readPrivateKeyFile',
  'publicKeyFromPrivatePem',
  'loadDaemonConfig',
  'checkDaemonConfig',
  'startOpsHttpServer',
  'PromMetrics',
  'collectProcessMetrics',
  'Daemon',
  'verifyAuditLog',
  'auditHeadPathOf',
  'computeNetmapDelta',
  'signNetmapDelta',
  'startTracing',
] as const satisfies ReadonlyArray<keyof typeof DaemonPackage>;

/** The `@rustynet/daemon` exports the CLI relies on, with the daemon's own types. */
export type DaemonModule = Pick<typeof DaemonPackage, (typeof REQUIRED)[number]>;

let cached: Promise<DaemonModule> | undefined;

/**
 * Imports `@rustynet/daemon` once.
 * @throws RustynetError `INTERNAL` when the package cannot be imported or lacks an agreed export.
 */
export function daemonModule(): Promise<DaemonModule> {
  cached ??= (async () => {
    let mod: typeof DaemonPackage;
    try {
      mod = await import('@rustynet/daemon');
    } catch (cause) {
      throw new RustynetError(
        'INTERNAL',
        `cannot load @rustynet/daemon (is it built? run: npx tsc -b core/cli): ${(cause as Error).message}`,
        { cause },
      );
    }
    // A stale or half-built dist may lack what the types promise: check at run time too.
    const exported: Record<string, unknown> = { ...mod };
    const missing = REQUIRED.filter((k) => typeof exported[k] !== 'function');
    if (missing.length > 0) {
      throw new RustynetError('INTERNAL', `@rustynet/daemon does not export ${missing.join(', ')} (is it built?)`);
    }
    return mod;
  })();
  cached.catch(() => (cached = undefined));
  return cached;
}
