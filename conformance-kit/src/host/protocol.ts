/**
 * IPC protocol between the kit (parent) and the plugin host (child process running inside a
 * test network namespace). Messages are structured-clone/JSON safe.
 */

/** A command the plugin ran through its CommandRunner, as recorded by the plugin host. */
export interface CommandRecord {
  /** `run` or `spawn`. */
  via: 'run' | 'spawn';
  file: string;
  args: string[];
  /** Extra environment the plugin passed (values included: the kit checks them for secrets). */
  env: Record<string, string>;
  /** Bytes written to stdin (the content itself is not recorded). */
  inputBytes: number;
  /** ms since the epoch. */
  at: number;
  /** Sequence number (1-based) within the host. */
  seq: number;
  /** pid of a spawned process. */
  pid?: number;
}

/** A serialized error crossing the IPC channel. */
export interface WireError {
  name: string;
  message: string;
  code?: string;
  errno?: number;
  field?: string;
  plugin?: string;
  details?: Record<string, unknown>;
  stack?: string;
}

/** Parent -> child. */
export type HostRequest =
  | {
      id: number;
      op: 'load';
      spec: string;
      cwd: string;
      stateDir: string;
      logFile: string;
      options?: Record<string, unknown>;
      expectKind?: import('@rustynet/plugin-api').PluginKind;
    }
  | {
      id: number;
      op: 'call';
      method: string;
      args: unknown[];
      /**
       * Gives `args[arg]` a `sign(challenge): Promise<Uint8Array>` function (as the daemon gives a
       * relay plugin's start config): Ed25519 with the PKCS#8 PEM private key in `keyFile` (0600).
       * The key stays in the file; only its path crosses the channel.
       */
      signer?: { arg: number; keyFile: string };
      /**
       * Appends call options `{ signal }` after `args`, with a signal that is already aborted
       * (`CallOptions` in `@rustynet/plugin-api`: the call must reject with `ABORTED` and change
       * nothing).
       */
      aborted?: boolean;
    }
  | { id: number; op: 'commands'; since?: number }
  | { id: number; op: 'timeline' }
  | { id: number; op: 'logs'; since: number; offsets: Record<string, number> }
  | { id: number; op: 'processes' };

/** Child -> parent. */
export type HostResponse = { id: number; ok: true; result: unknown } | { id: number; ok: false; error: WireError };

/** Result of the `load` op. */
export interface LoadResult {
  manifest: import('@rustynet/plugin-api').PluginManifest;
  apiVersion: string;
  dir: string;
  pluginStateDir: string;
  pid: number;
}

/** Serializes any thrown value, keeping RustynetError's code, field and details. */
export function toWireError(err: unknown): WireError {
  if (typeof err === 'object' && err !== null) {
    const e = err as Record<string, unknown>;
    const out: WireError = {
      name: typeof e['name'] === 'string' ? e['name'] : 'Error',
      message: typeof e['message'] === 'string' ? e['message'] : (JSON.stringify(err) ?? 'non-Error value thrown'),
    };
    if (typeof e['code'] === 'string') out.code = e['code'];
    if (typeof e['errno'] === 'number') out.errno = e['errno'];
    if (typeof e['field'] === 'string') out.field = e['field'];
    if (typeof e['plugin'] === 'string') out.plugin = e['plugin'];
    if (typeof e['details'] === 'object' && e['details'] !== null) {
      try {
        out.details = JSON.parse(JSON.stringify(e['details'])) as Record<string, unknown>;
      } catch {
        out.details = { unserializable: true };
      }
    }
    if (typeof e['stack'] === 'string') out.stack = e['stack'];
    return out;
  }
  return { name: 'Error', message: String(err) };
}

/** Full output of what the plugin ran and spawned since a cursor (the `logs` op, for `--keep-logs`). */
export interface HostLogs {
  /** Commands with sequence number above the cursor, with the output of `run` commands. */
  commands: (CommandRecord & { stdout?: string; stderr?: string; exitCode?: number })[];
  /** Output of every spawned process from its offset in the cursor (stdout and stderr interleaved). */
  processes: { pid: number; file: string; args: string[]; offset: number; output: string; lost: boolean }[];
}
