/**
 * One supervised `openvpn` process: the tunnel to one peer. Started with
 * `openvpn --config <0600 file>`; a process that dies without being asked to is restarted with
 * exponential backoff, and reported as `restarting` meanwhile. State and counters come from the
 * instance's management interface on a UNIX socket.
 */
import { rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { RustynetError, type Clock, type CommandRunner, type Counter, type Logger, type ManagedProcess } from '@rustynet/plugin-api';
import { writeFileAtomic } from '@rustynet/plugin-kit';
import { renderInstanceConfig, type InstanceConfig } from './config.js';
import { parseState, parseStatus, queryManagement, type ManagementState, type ManagementStatus } from './management.js';

/** Services an instance needs. */
export interface InstanceDeps {
  runner: CommandRunner;
  logger: Logger;
  clock: Clock;
  openvpnPath: string;
  restartBackoffMs: number;
  restartBackoffMaxMs: number;
  readyTimeoutMs: number;
  restarts: Counter;
  /** Called before a crashed instance is started again (re-creates its device if it vanished). */
  beforeRestart: () => Promise<void>;
  /** Called once per unexpected exit, before the restart is scheduled (reports the fault). Must not throw. */
  onUnexpectedExit?: (exit: { exitCode: number | null; signal: string | null; restartInMs: number }) => void;
}

/** Supervision state of an instance. */
export type InstanceState = 'starting' | 'running' | 'restarting' | 'stopped';

/** A live snapshot for `stats()`. */
export interface InstanceSnapshot {
  /** `up` (CONNECTED), `connecting`, `restarting` or `stopped`. */
  state: string;
  lastHandshakeAt: number | null;
  rxBytes: number;
  txBytes: number;
  remoteHost?: string;
  remotePort?: number;
  restarts: number;
  /** OpenVPN's own state word (`WAIT`, `AUTH`, `CONNECTED`, ...), when the process answered. */
  openvpnState?: string;
  /** The data-channel cipher the current process negotiated (from its log), once known. */
  cipher?: string;
}

/**
 * The data-channel cipher OpenVPN 2.6 reports in its log at verb >= 2 (`Outgoing Data Channel:
 * Cipher 'AES-256-GCM' initialized with 256 bit key`); the last one in `output`, if any.
 */
export function negotiatedCipher(output: string): string | undefined {
  const all = [...output.matchAll(/(?:Outgoing Data Channel: Cipher|Data Channel: cipher) '([^']+)'/g)];
  return all.at(-1)?.[1];
}

/** How long {@link OpenVpnInstance.waitConnected} waits for a first answer of the peer. */
const SILENT_PEER_MS = 2500;

/**
 * Time between the first SIGTERM (openvpn sends its exit notification at once) and the second
 * (skips openvpn's ~1 s exit-notification linger), ms.
 */
const EXIT_NOTIFY_GRACE_MS = 20;

/** A process that lived at least this long resets the backoff. */
const STABLE_MS = 60_000;

/**
 * A supervised openvpn process for one peer. `start` resolves once the management socket
 * answers; unexpected exits restart it with exponential backoff until `stop`.
 */
export class OpenVpnInstance {
  private proc: ManagedProcess | undefined;
  /** Cipher negotiated by the current process (kept when its log line scrolls out of the tail). */
  private cipher: string | undefined;
  private stopping = false;
  private backoff = new AbortController();
  private crashes = 0;
  private startedAt = 0;
  private supervision: InstanceState = 'stopped';
  private mgmtChain: Promise<unknown> = Promise.resolve();
  private lastHandshake: number | null = null;
  /** Counters of earlier process lifetimes, so the reported ones only grow. */
  private carriedRx = 0;
  private carriedTx = 0;
  private seenRx = 0;
  private seenTx = 0;
  /** Number of unexpected exits seen. */
  restartCount = 0;

  constructor(
    readonly peerId: string,
    private config: InstanceConfig,
    readonly configPath: string,
    private readonly deps: InstanceDeps,
  ) {}

  get device(): string {
    return this.config.device;
  }
  get state(): InstanceState {
    return this.supervision;
  }
  get pid(): number | undefined {
    return this.proc?.pid;
  }
  get currentConfig(): InstanceConfig {
    return this.config;
  }

  /** Writes the config file atomically (mode 0600, fsynced). */
  private async writeConfig(): Promise<void> {
    await writeFileAtomic(this.configPath, renderInstanceConfig(this.config), { mode: 0o600 });
  }

  /**
   * Writes the config and starts the process; resolves once the management socket answers.
   * @throws RustynetError `BACKEND_FAILED` with the process output when it exits or stays silent.
   */
  async start(): Promise<void> {
    this.stopping = false;
    this.backoff = new AbortController();
    this.supervision = 'starting';
    await this.writeConfig();
    // A stale socket from a crashed process would make readiness lie.
    await rm(this.config.managementSocket, { force: true });
    const proc = this.spawn();
    try {
      await this.waitReady(proc);
      if (this.proc === proc) this.supervision = 'running';
    } catch (err) {
      await this.stop();
      throw err;
    }
  }

  private spawn(): ManagedProcess {
    const proc = this.deps.runner.spawn(this.deps.openvpnPath, ['--config', this.configPath]);
    this.proc = proc;
    this.cipher = undefined;
    this.startedAt = this.deps.clock.now();
    this.seenRx = 0;
    this.seenTx = 0;
    void proc.exited.then((r) => this.onExit(proc, r));
    return proc;
  }

  private async waitReady(proc: ManagedProcess): Promise<void> {
    let exited = false;
    void proc.exited.then(() => (exited = true));
    const deadline = this.deps.clock.now() + this.deps.readyTimeoutMs;
    for (;;) {
      if (exited || this.proc !== proc) {
        throw new RustynetError('BACKEND_FAILED', `openvpn for peer ${this.peerId} exited during start`, {
          details: { peer: this.peerId, device: this.config.device, output: proc.outputTail().slice(-2000) },
        });
      }
      if (await this.manage(() => socketAnswers(this.config.managementSocket))) return;
      if (this.deps.clock.now() > deadline) {
        throw new RustynetError('BACKEND_FAILED', `openvpn for peer ${this.peerId} did not open its management socket`, {
          details: { peer: this.peerId, device: this.config.device, output: proc.outputTail().slice(-2000) },
        });
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  private onExit(proc: ManagedProcess, r: { exitCode: number | null; signal: string | null }): void {
    if (proc !== this.proc || this.stopping) return;
    this.carriedRx += this.seenRx;
    this.carriedTx += this.seenTx;
    this.seenRx = 0;
    this.seenTx = 0;
    this.restartCount += 1;
    this.deps.restarts.inc({ peer: this.peerId });
    const lived = this.deps.clock.now() - this.startedAt;
    if (lived >= STABLE_MS) this.crashes = 0;
    const delay = Math.min(this.deps.restartBackoffMaxMs, this.deps.restartBackoffMs * 2 ** this.crashes);
    this.crashes += 1;
    this.supervision = 'restarting';
    this.deps.logger.warn(
      {
        peer: this.peerId,
        device: this.config.device,
        exitCode: r.exitCode,
        signal: r.signal,
        restartInMs: delay,
        output: proc.outputTail().slice(-1000),
      },
      'openvpn instance exited unexpectedly; restarting',
    );
    try {
      this.deps.onUnexpectedExit?.({ exitCode: r.exitCode, signal: r.signal, restartInMs: delay });
    } catch (err) {
      this.deps.logger.error({ err: String(err) }, 'fault report failed');
    }
    void this.restartAfter(delay);
  }

  private async restartAfter(delay: number): Promise<void> {
    const signal = this.backoff.signal;
    try {
      await this.deps.clock.sleep(delay, signal);
    } catch {
      return;
    }
    if (this.stopping || signal.aborted) return;
    try {
      await this.deps.beforeRestart();
    } catch (err) {
      this.deps.logger.warn({ peer: this.peerId, err: (err as Error).message }, 'could not prepare the device; retrying');
      void this.restartAfter(Math.min(this.deps.restartBackoffMaxMs, delay * 2));
      return;
    }
    await rm(this.config.managementSocket, { force: true }).catch(() => undefined);
    if (this.stopping || signal.aborted) return;
    const proc = this.spawn();
    try {
      await this.waitReady(proc);
      if (this.proc === proc && !this.stopping) this.supervision = 'running';
      this.deps.logger.info({ peer: this.peerId, device: this.config.device }, 'openvpn instance restarted');
    } catch (err) {
      // Died again: onExit schedules the next attempt. Alive but silent: kill it, onExit follows.
      this.deps.logger.warn({ peer: this.peerId, err: (err as Error).message }, 'openvpn restart attempt failed');
      if (this.proc === proc && !this.stopping) proc.kill('SIGKILL');
    }
  }

  /**
   * Replaces the config and restarts the process (the tun device stays). Used for endpoint and
   * key changes. If the new process fails to come up, it is retried with backoff and the error
   * is rethrown (`BACKEND_FAILED`).
   */
  async reconfigure(config: InstanceConfig): Promise<void> {
    await this.stop();
    this.config = config;
    try {
      await this.start();
    } catch (err) {
      // Keep supervising: the peer stays configured and is retried with backoff.
      this.stopping = false;
      this.backoff = new AbortController();
      this.supervision = 'restarting';
      void this.restartAfter(this.deps.restartBackoffMs);
      throw err;
    }
  }

  /**
   * Stops the process and cancels any pending restart. Idempotent. openvpn answers a first
   * SIGTERM by sending its exit notification to the peer (`--explicit-exit-notify`) and then
   * lingers about a second before exiting (openvpn(8): "explicit-exit-notify"); a second SIGTERM
   * after {@link EXIT_NOTIFY_GRACE_MS} ends it at once (the notification is out by then), so an
   * endpoint change costs milliseconds, not a second. SIGKILL after 5 s.
   */
  async stop(): Promise<void> {
    this.stopping = true;
    this.backoff.abort();
    const proc = this.proc;
    this.proc = undefined;
    if (proc) {
      this.carriedRx += this.seenRx;
      this.carriedTx += this.seenTx;
      this.seenRx = 0;
      this.seenTx = 0;
      if (!(await isExited(proc))) {
        proc.kill('SIGTERM');
        const grace = new Promise<'grace'>((r) => setTimeout(() => r('grace'), EXIT_NOTIFY_GRACE_MS).unref());
        if ((await Promise.race([proc.exited, grace])) === 'grace') proc.kill('SIGTERM');
        const timer = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 5000).unref());
        if ((await Promise.race([proc.exited, timer])) === 'timeout') {
          proc.kill('SIGKILL');
          await proc.exited;
        }
      }
    }
    this.supervision = 'stopped';
    await rm(this.config.managementSocket, { force: true }).catch(() => undefined);
  }

  /** Removes the config file. */
  async removeFiles(): Promise<void> {
    await rm(this.configPath, { force: true });
    await rm(`${this.configPath}.tmp`, { force: true });
  }

  /**
   * Waits until the tunnel reports CONNECTED, `timeoutMs` passes, or the peer stays silent
   * (no TLS answer) for `silentMs` (default 2.5 s). Each poll is a management connection, which
   * also wakes openvpn's event loop: openvpn enables the data channel of a new session only from
   * its once-a-second coarse timer, which otherwise runs up to ~0.26 s late when idle.
   * @returns whether it connected.
   */
  async waitConnected(timeoutMs: number, opts: { pollMs?: number; silentMs?: number } = {}): Promise<boolean> {
    const pollMs = opts.pollMs ?? 100;
    const silentMs = opts.silentMs ?? SILENT_PEER_MS;
    const start = this.deps.clock.now();
    let heard = false;
    for (;;) {
      const snap = await this.snapshot();
      if (snap.state === 'up') return true;
      // AUTH and later: the peer answered, the handshake is under way.
      if (snap.openvpnState && !['CONNECTING', 'WAIT', 'RESOLVE', 'TCP_CONNECT'].includes(snap.openvpnState)) heard = true;
      const elapsed = this.deps.clock.now() - start;
      if (this.supervision === 'stopped' || elapsed >= timeoutMs) return false;
      // A peer that has not answered within one TLS retransmit interval (2 s) is not waited for.
      if (!heard && elapsed >= silentMs) return false;
      await new Promise((r) => setTimeout(r, pollMs));
    }
  }

  /** Serialises management connections: openvpn serves one client at a time. */
  private manage<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.mgmtChain.then(fn, fn);
    this.mgmtChain = next.catch(() => undefined);
    return next;
  }

  /** Reads state and counters from the management interface. Never throws. */
  async snapshot(): Promise<InstanceSnapshot> {
    let st: ManagementState | undefined;
    let counters: ManagementStatus | undefined;
    if (this.supervision === 'running' || this.supervision === 'starting') {
      try {
        const [stateLines, statusLines] = await this.manage(() => queryManagement(this.config.managementSocket, ['state', 'status'], 2000));
        st = parseState(stateLines ?? []);
        counters = parseStatus(statusLines ?? []);
      } catch {
        // The process may be exiting; report what we know.
      }
    }
    if (counters) {
      this.seenRx = counters.tunWriteBytes;
      this.seenTx = counters.tunReadBytes;
    }
    if (st?.state === 'CONNECTED') this.lastHandshake = Math.max(this.lastHandshake ?? 0, st.at);
    const seen = this.proc ? negotiatedCipher(this.proc.outputTail()) : undefined;
    if (seen !== undefined) this.cipher = seen;
    let state: string;
    if (this.supervision === 'restarting') state = 'restarting';
    else if (this.supervision === 'stopped') state = 'stopped';
    else state = st?.state === 'CONNECTED' ? 'up' : 'connecting';
    return {
      state,
      lastHandshakeAt: this.lastHandshake,
      rxBytes: this.carriedRx + this.seenRx,
      txBytes: this.carriedTx + this.seenTx,
      ...(st?.remoteHost ? { remoteHost: st.remoteHost } : {}),
      ...(st?.remotePort !== undefined ? { remotePort: st.remotePort } : {}),
      restarts: this.restartCount,
      ...(st?.state ? { openvpnState: st.state } : {}),
      ...(this.cipher !== undefined && { cipher: this.cipher }),
    };
  }
}

async function isExited(proc: ManagedProcess): Promise<boolean> {
  return Promise.race([proc.exited.then(() => true), new Promise<boolean>((r) => setImmediate(() => r(false)))]);
}

/** True when something accepts connections on the UNIX socket and sends the management banner. */
function socketAnswers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = connect(path);
    const done = (ok: boolean): void => {
      sock.destroy();
      resolve(ok);
    };
    sock.setTimeout(1000, () => done(false));
    sock.on('error', () => done(false));
    sock.on('data', (d) => done(String(d).startsWith('>INFO:')));
  });
}
