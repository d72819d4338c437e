import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Endpoint } from '@rustynet/plugin-api';
import type { TestHost, TestNetwork } from '../../harness/test-network.js';
import type { Received } from './agent.js';

const AGENT_PATH = fileURLToPath(new URL('./agent.js', import.meta.url));

/** An error raised inside the agent (e.g. the relay server's `start` failing), with its code. */
export class AgentError extends Error {
  override readonly name = 'AgentError';
  constructor(
    message: string,
    readonly code?: string,
  ) {
    super(message);
  }
}

/** Received datagrams of an agent socket. */
export interface ReceivedLog {
  count: number;
  bytes: number;
  received: Received[];
}

/**
 * Parent side of the relay suite's per-host helper process (see `agent.ts`): it runs inside the
 * host's namespace, tracked by the network's resource tracker (killed on destroy, failure, SIGINT).
 */
export class RelayAgent {
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private nextId = 1;
  private tail = '';

  private constructor(
    private readonly child: ChildProcess,
    readonly host: TestHost,
  ) {
    child.stderr?.on('data', (d: Buffer) => {
      this.tail = (this.tail + d.toString()).slice(-8192);
    });
    child.on('message', (m: { ready?: boolean; id?: number; result?: unknown; error?: { message: string; code?: string } }) => {
      if (m.ready || m.id === undefined) return;
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      if (m.error !== undefined) p.reject(new AgentError(m.error.message, m.error.code));
      else p.resolve(m.result);
    });
    child.on('exit', (code, signal) => {
      for (const p of this.pending.values()) p.reject(new Error(`relay agent in ${host.netns} exited (${code ?? signal}): ${this.tail}`));
      this.pending.clear();
    });
  }

  /** Starts the agent inside `host`'s namespace. */
  static async start(net: TestNetwork, host: TestHost): Promise<RelayAgent> {
    const child = fork(AGENT_PATH, [], {
      execPath: 'ip',
      execArgv: ['netns', 'exec', host.netns, process.execPath],
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
    });
    const untrack = net.tracker.track('process', `relay agent in ${host.netns}`, () => {
      if (child.exitCode === null) child.kill('SIGKILL');
    });
    child.once('exit', untrack);
    await new Promise<void>((resolve, reject) => {
      const onExit = (code: number | null): void => reject(new Error(`relay agent in ${host.netns} exited with ${code}`));
      child.once('error', reject);
      child.once('exit', onExit);
      child.once('message', () => {
        child.off('exit', onExit);
        child.off('error', reject);
        resolve();
      });
    });
    return new RelayAgent(child, host);
  }

  /** pid of the agent process. */
  get pid(): number | undefined {
    return this.child.pid;
  }

  /** Stderr tail of the agent (the relay server's own output, if any). */
  outputTail(): string {
    return this.tail;
  }

  private call<T>(op: string, args: Record<string, unknown>, timeoutMs = 30_000): Promise<T> {
    if (this.child.exitCode !== null || !this.child.connected)
      return Promise.reject(new Error(`relay agent in ${this.host.netns} is not running`));
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`relay agent op ${op} did not answer within ${timeoutMs} ms`));
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
      this.child.send({ id, op, args }, (err) => {
        if (!err) return;
        const p = this.pending.get(id);
        this.pending.delete(id);
        p?.reject(err);
      });
    });
  }

  /** Creates and starts a relay server from the package module at `module` (`createRelayServer(options)`). */
  serverCreate(name: string, module: string, options: unknown, timeoutMs = 30_000): Promise<Endpoint> {
    return this.call<Endpoint>('serverCreate', { name, module, options }, timeoutMs);
  }
  serverStop(name: string): Promise<void> {
    return this.call<void>('serverStop', { name });
  }
  serverStats(name: string): Promise<unknown> {
    return this.call<unknown>('serverStats', { name });
  }
  /** Binds a UDP socket; with `echo`, every datagram is sent back to its sender. */
  open(host: string, port: number, echo = false): Promise<{ id: number; port: number }> {
    return this.call('open', { host, port, echo });
  }
  send(id: number, to: Endpoint, payloads: Buffer[]): Promise<void> {
    return this.call('send', { id, host: to.host, port: to.port, payloads: payloads.map((p) => p.toString('base64')) });
  }
  /** Sends `count` datagrams of `size` bytes (`<tag>-<i>-aaaa…`) as fast as the socket takes them. */
  sendMany(id: number, to: Endpoint, count: number, size: number, tag: string): Promise<{ sendMs: number }> {
    return this.call('sendMany', { id, host: to.host, port: to.port, count, size, tag }, 60_000);
  }
  received(id: number, clear = false): Promise<ReceivedLog> {
    return this.call('received', { id, clear });
  }
  close(id: number): Promise<void> {
    return this.call('close', { id });
  }
  /**
   * Sequential echo rounds through `to`: each round sends a fresh payload until its echo comes back
   * (up to `attempts` tries of `waitMs`). Stops early after `budgetMs` (default: no budget).
   */
  echoRounds(
    id: number,
    to: Endpoint,
    rounds: number,
    attempts: number,
    waitMs: number,
    size: number,
    budgetMs = 0,
  ): Promise<{ ok: number; attemptsUsed: number; outOfBudget: boolean }> {
    const max = budgetMs > 0 ? budgetMs + waitMs : rounds * attempts * waitMs;
    return this.call('echoRounds', { id, host: to.host, port: to.port, rounds, attempts, waitMs, size, budgetMs }, max + 10_000);
  }
  /** Sends each payload once from its own socket; per payload the bytes sent and received back. */
  probe(to: Endpoint, payloads: Buffer[], quietMs: number): Promise<{ sent: number; received: number; replies: number }[]> {
    return this.call('probe', { host: to.host, port: to.port, payloads: payloads.map((p) => p.toString('base64')), quietMs }, 60_000);
  }
  floodStart(to: Endpoint, templates: Buffer[], max: number): Promise<void> {
    return this.call('floodStart', { host: to.host, port: to.port, templates: templates.map((p) => p.toString('base64')), max });
  }
  floodCount(): Promise<{ sent: number; running: boolean }> {
    return this.call('floodCount', {});
  }
  floodStop(): Promise<{ sent: number; finishedEarly: boolean }> {
    return this.call('floodStop', {});
  }

  /** Ends the agent (its servers stop first). Idempotent. */
  async dispose(): Promise<void> {
    if (this.child.exitCode !== null) return;
    const done = new Promise<void>((r) => this.child.once('exit', () => r()));
    if (this.child.connected) this.child.disconnect();
    const t = setTimeout(() => this.child.kill('SIGKILL'), 5000);
    await done;
    clearTimeout(t);
  }
}
