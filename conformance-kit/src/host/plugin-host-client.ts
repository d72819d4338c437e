import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { PluginKind } from '@rustynet/plugin-api';
import type { TestHost } from '../harness/test-network.js';
import type { ResourceTracker } from '../harness/tracker.js';
import type { LifecycleObserver, WatchedHost } from '../suites/common/residue.js';
import type { CommandRecord, HostLogs, HostRequest, HostResponse, LoadResult, WireError } from './protocol.js';

type DistOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

const HOST_PATH = fileURLToPath(new URL('./plugin-host.js', import.meta.url));
const TAIL_BYTES = 16 * 1024;

/**
 * An error thrown by the plugin (or the loader) inside the plugin host, rebuilt in the kit.
 * Keeps `name`, `code`, `errno`, `field`, `plugin`, `details`, so `isRustynetError` works on it.
 */
export class RemotePluginError extends Error {
  /** Always `RustynetError`, so `isRustynetError` from `@rustynet/plugin-api` accepts it. */
  override name: string;
  /** Stable error code the plugin threw (see `ErrorCodes`). */
  readonly code?: string;
  /** Stable number of {@link RemotePluginError.code}. */
  readonly errno?: number;
  /** The input field the error names, if any. */
  readonly field?: string;
  /** The plugin the error names, if any. */
  readonly plugin?: string;
  /** The error's machine-readable details, if any. */
  readonly details?: Record<string, unknown>;
  /** The stack trace inside the plugin host process. */
  readonly remoteStack?: string;
  constructor(w: WireError) {
    super(w.message);
    this.name = w.name;
    if (w.code !== undefined) this.code = w.code;
    if (w.errno !== undefined) this.errno = w.errno;
    if (w.field !== undefined) this.field = w.field;
    if (w.plugin !== undefined) this.plugin = w.plugin;
    if (w.details !== undefined) this.details = w.details;
    if (w.stack !== undefined) this.remoteStack = w.stack;
  }
}

/** A call to the plugin host that passed its deadline. */
export class PluginCallTimeoutError extends Error {
  /** Always `PluginCallTimeoutError`. */
  override readonly name = 'PluginCallTimeoutError';
  constructor(
    /** The plugin method that did not answer. */
    readonly method: string,
    /** The deadline that passed, in milliseconds. */
    readonly timeoutMs: number,
  ) {
    super(`plugin call ${method} did not settle within ${timeoutMs} ms`);
  }
}

/** Extra options of {@link PluginHost.call}. */
export interface CallExtras {
  /** Pass call options whose `signal` is already aborted after the arguments (see `CallOptions`). */
  aborted?: boolean;
}

/** Options of {@link PluginHost.start}. */
export interface PluginHostOptions {
  /** The test host whose namespace the plugin runs in; absent: the current namespace. */
  host?: TestHost;
  /** Plugin spec: package name or path (as given to `loadPlugin`). */
  spec: string;
  /** Where package names resolve from. */
  cwd: string;
  /** State directory of the host services (plugin state lives below it). */
  stateDir: string;
  /** JSON-lines log file of the host services. */
  logFile: string;
  /** Plugin options (validated against its configSchema by the loader). */
  options?: Record<string, unknown>;
  /** Refuse a plugin of another kind (the loader's `PLUGIN_LOAD_FAILED`). */
  expectKind?: PluginKind;
  /** Extra label for reports, e.g. the host name. */
  label?: string;
  /** When given, the child is registered with it so teardown kills it also on failure and SIGINT. */
  tracker?: ResourceTracker;
  /** Told about every `start` and `stop` call and the host's exit (the kit's residue checks). */
  observer?: LifecycleObserver;
}

/**
 * Parent side of a plugin host child process: loads the plugin inside a namespace and calls its
 * methods over IPC. Captures the child's stdout/stderr tail for failure reports.
 */
export class PluginHost implements WatchedHost {
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private nextId = 1;
  /** Plugin method calls not yet settled (answered, failed or timed out). */
  private readonly inFlight = new Set<Promise<unknown>>();
  private tail = '';
  private exited = false;
  /** Set after a successful load. */
  loaded!: LoadResult;

  private constructor(
    private readonly child: ChildProcess,
    /** Name of this host in logs and reports (e.g. the node name `a`). */
    readonly label: string,
    /** The test host whose namespace the plugin runs in (undefined: the kit's own namespace). */
    readonly testHost: TestHost | undefined,
    private readonly observer: LifecycleObserver | undefined,
  ) {
    const append = (d: Buffer): void => {
      this.tail = (this.tail + d.toString()).slice(-TAIL_BYTES);
    };
    child.stdout?.on('data', append);
    child.stderr?.on('data', append);
    child.on('message', (m: HostResponse | { ready: true }) => {
      if ('ready' in m) return;
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      if (m.ok) p.resolve(m.result);
      else p.reject(new RemotePluginError(m.error));
    });
    child.on('exit', (code, signal) => {
      this.exited = true;
      this.observer?.exited(this);
      for (const p of this.pending.values())
        p.reject(new Error(`plugin host ${label} exited (code ${code}, signal ${signal}); output tail:\n${this.tail}`));
      this.pending.clear();
    });
  }

  /** The plugin's state directory, once loaded. */
  stateDir(): string | undefined {
    return (this.loaded as LoadResult | undefined)?.pluginStateDir;
  }

  /** Whether the host process has exited. */
  get hasExited(): boolean {
    return this.exited;
  }

  /** pid of the plugin host process (inside the namespace). */
  get pid(): number | undefined {
    return this.child.pid;
  }

  /**
   * Starts the host process and loads the plugin.
   * @throws RemotePluginError with the loader's code (PLUGIN_NOT_FOUND, MANIFEST_INVALID, ...).
   */
  static async start(opts: PluginHostOptions): Promise<PluginHost> {
    const child = opts.host
      ? fork(HOST_PATH, [], {
          execPath: 'ip',
          execArgv: ['netns', 'exec', opts.host.netns, process.execPath],
          stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
          cwd: opts.cwd,
        })
      : fork(HOST_PATH, [], { stdio: ['ignore', 'pipe', 'pipe', 'ipc'], cwd: opts.cwd });
    const h = new PluginHost(child, opts.label ?? opts.host?.name ?? 'local', opts.host, opts.observer);
    opts.tracker?.track('process', `plugin host ${h.label} in ${opts.host?.netns ?? 'the current namespace'}`, () => h.killNow());
    try {
      h.loaded = await h.request<LoadResult>(
        {
          op: 'load',
          spec: opts.spec,
          cwd: opts.cwd,
          stateDir: opts.stateDir,
          logFile: opts.logFile,
          ...(opts.options && { options: opts.options }),
          ...(opts.expectKind && { expectKind: opts.expectKind }),
        },
        60_000,
      );
    } catch (err) {
      await h.close();
      throw err;
    }
    return h;
  }

  private request<T>(req: DistOmit<HostRequest, 'id'>, timeoutMs: number, method: string = req.op): Promise<T> {
    if (this.exited) return Promise.reject(new Error(`plugin host ${this.label} is not running; output tail:\n${this.tail}`));
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new PluginCallTimeoutError(method, timeoutMs));
      }, timeoutMs);
      this.pending.set(id, {
        resolve: (v) => {
          clearTimeout(timer);
          resolve(v as T);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      this.child.send({ ...req, id });
    });
  }

  /**
   * Calls `method` on the plugin instance with JSON-safe `args`. `start` and `stop` are reported
   * to the observer (a `start` is preceded by its snapshot; a call that timed out counts as running,
   * a failed call changes nothing).
   */
  call<T = unknown>(method: string, args: unknown[] = [], timeoutMs = 30_000, opts: CallExtras = {}): Promise<T> {
    const p = this.observedCall<T>(method, args, timeoutMs, opts);
    this.inFlight.add(p);
    const forget = (): void => void this.inFlight.delete(p);
    p.then(forget, forget);
    return p;
  }

  /**
   * Resolves once no plugin method call of this host is in flight, or after `maxMs` ms, whichever
   * comes first: after a failed test, so calls a test started and stopped waiting for (a sibling of
   * a rejected `Promise.all`, a body past its deadline) cannot change the plugin under the next
   * test. Calls those calls chain on in the kit are waited for too. Never throws.
   * @returns true when the host went idle, false when `maxMs` passed first.
   */
  async idle(maxMs: number): Promise<boolean> {
    const giveUpAt = Date.now() + maxMs;
    while (this.inFlight.size > 0) {
      const left = giveUpAt - Date.now();
      if (left <= 0) return false;
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        Promise.allSettled([...this.inFlight]),
        new Promise((r) => {
          timer = setTimeout(r, left);
        }),
      ]);
      clearTimeout(timer);
      // a macrotask later, so a call chained on a settled one has been issued
      await new Promise((r) => setTimeout(r, 50));
    }
    return true;
  }

  private async observedCall<T>(method: string, args: unknown[], timeoutMs: number, opts: CallExtras): Promise<T> {
    const obs = this.observer;
    const req = { op: 'call' as const, method, args, ...(opts.aborted === true && { aborted: true }) };
    if (!obs || (method !== 'start' && method !== 'stop')) return this.request<T>(req, timeoutMs, method);
    if (method === 'start') await obs.beforeStart(this, args);
    try {
      const r = await this.request<T>(req, timeoutMs, method);
      obs.settled(this, method === 'start');
      return r;
    } catch (err) {
      // a failed start leaves the instance as it was (running after ALREADY_RUNNING, stopped otherwise)
      if (err instanceof PluginCallTimeoutError) obs.settled(this, true);
      throw err;
    }
  }

  /**
   * Like {@link call}, but `args[signer.arg]` gets a `sign(challenge)` function inside the host:
   * Ed25519 with the PEM private key in `signer.keyFile` (how the daemon hands a relay plugin its
   * signer; the key never reaches the plugin).
   */
  callWithSigner<T = unknown>(method: string, args: unknown[], signer: { arg: number; keyFile: string }, timeoutMs = 30_000): Promise<T> {
    return this.request<T>({ op: 'call', method, args, signer }, timeoutMs, method);
  }

  /** Commands the plugin ran through its CommandRunner with sequence number above `since`. */
  commands(since = 0): Promise<CommandRecord[]> {
    return this.request<CommandRecord[]>({ op: 'commands', since }, 10_000);
  }

  /** Commands with their output and the output of spawned processes since a cursor (`--keep-logs`). */
  logs(since: number, offsets: Record<string, number>): Promise<HostLogs> {
    return this.request<HostLogs>({ op: 'logs', since, offsets }, 20_000);
  }

  /** The daemon hook timeline (entries oldest first), or null when the daemon offers none. */
  timeline(): Promise<unknown[] | null> {
    return this.request<unknown[] | null>({ op: 'timeline' }, 10_000);
  }

  /** Processes the plugin spawned through its runner, with their output tails. */
  processes(): Promise<
    {
      /** Process id, or null when the process could not be started. */
      pid: number | null;
      /** The last lines of its output. */
      tail: string;
    }[]
  > {
    return this.request<{ pid: number | null; tail: string }[]>({ op: 'processes' }, 10_000);
  }

  /** The last output (stderr and stdout) of the plugin host process, including plugin logs on stderr. */
  outputTail(): string {
    return this.tail;
  }

  /** Ends the host process (its disconnect handler stops the plugin first). Idempotent. */
  async close(): Promise<void> {
    if (this.exited || this.child.exitCode !== null) return;
    const done = new Promise<void>((r) => this.child.once('exit', () => r()));
    if (this.child.connected) this.child.disconnect();
    const t = setTimeout(() => this.child.kill('SIGKILL'), 8000);
    await done;
    clearTimeout(t);
  }

  /** Kills the host process at once (used by cleanup on abort). */
  killNow(): void {
    if (!this.exited && this.child.exitCode === null) this.child.kill('SIGKILL');
  }
}
