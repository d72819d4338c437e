/**
 * The parts of `@rustynet/daemon` the CLI uses, as agreed in the project brief.
 *
 * The daemon is loaded with a dynamic import so that `rustynet --help`, `status`, `up`, `down`
 * and `plugin list` (which only talk to the local API socket) keep working even when the daemon
 * package is broken or mid-build; commands that need it fail with a clear `INTERNAL` error.
 */
import { RustynetError } from '@rustynet/plugin-api';
import type {
  Clock,
  CommandRunner,
  Logger,
  Metrics,
  Netmap,
  Plugin,
  PluginContext,
  PluginKind,
  PluginManifest,
  SignedNetmap,
} from '@rustynet/plugin-api';

/** Services the daemon builds for plugins (`createHostServices`). */
export interface HostServices {
  logger: Logger;
  runner: CommandRunner;
  metrics: Metrics;
  clock: Clock;
  stateDir: string;
}

/** A plugin loaded by the daemon's loader (`loadPlugin`). */
export interface LoadedPlugin {
  manifest: PluginManifest;
  apiVersion: string;
  dir: string;
  instance: Plugin;
  context: PluginContext;
}

/** The daemon's JSON configuration, as far as the CLI reads it. */
export interface DaemonConfigView {
  node: string;
  socket: string;
  log?: { level?: string; file?: string };
}

/** A running daemon. */
export interface DaemonInstance {
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Re-reads the netmap source now (used on SIGHUP); resolves with the ingest result. */
  reload?(): Promise<unknown>;
}

/** The `@rustynet/daemon` exports the CLI relies on. */
export interface DaemonModule {
  createHostServices(opts: { stateDir: string; logLevel?: string; logFile?: string; pretty?: boolean; processMetrics?: boolean }): HostServices;
  loadPlugin(
    spec: string,
    opts: { services: HostServices; options?: Record<string, unknown>; cwd?: string; expectKind?: PluginKind },
  ): Promise<LoadedPlugin>;
  signNetmap(netmap: Netmap, privateKeyPem: string): SignedNetmap;
  verifySignedNetmap(input: unknown, controlPlanePublicKeyB64: string, opts?: { now?: number }): Netmap;
  generateEd25519KeyPair(): { privateKeyPem: string; publicKeyB64: string };
  writeKeyFile(path: string, pem: string): void | Promise<void>;
  readPrivateKeyFile(path: string): string | Promise<string>;
  publicKeyFromPrivatePem(pem: string): string;
  loadDaemonConfig(path: string): Promise<DaemonConfigView>;
  Daemon: new (config: never, opts?: { cwd?: string }) => DaemonInstance;
}

/** Compile-time check that the real package provides the agreed API. */
export type DaemonModuleCheck = typeof import('@rustynet/daemon') extends DaemonModule ? true : never;
const daemonModuleCheck: DaemonModuleCheck = true;
void daemonModuleCheck;

const REQUIRED: ReadonlyArray<keyof DaemonModule> = [
  'createHostServices',
  'loadPlugin',
  'signNetmap',
  'verifySignedNetmap',
  'generateEd25519KeyPair',
  'writeKeyFile',
  'readPrivateKeyFile',
  'publicKeyFromPrivatePem',
  'loadDaemonConfig',
  'Daemon',
];

let cached: Promise<DaemonModule> | undefined;

/**
 * Imports `@rustynet/daemon` once.
 * @throws RustynetError `INTERNAL` when the package cannot be imported or lacks an agreed export.
 */
export function daemonModule(): Promise<DaemonModule> {
  cached ??= (async () => {
    let mod: Record<string, unknown>;
    try {
      mod = (await import('@rustynet/daemon')) as Record<string, unknown>;
    } catch (cause) {
      throw new RustynetError('INTERNAL', `cannot load @rustynet/daemon (is it built? run: npx tsc -b core/cli): ${(cause as Error).message}`, { cause });
    }
    const missing = REQUIRED.filter((k) => typeof mod[k] !== 'function');
    if (missing.length > 0) {
      throw new RustynetError('INTERNAL', `@rustynet/daemon does not export ${missing.join(', ')} (is it built?)`);
    }
    return mod as unknown as DaemonModule;
  })();
  cached.catch(() => (cached = undefined));
  return cached;
}
