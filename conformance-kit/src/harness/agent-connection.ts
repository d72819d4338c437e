/**
 * The kit's side of a host's helper agent (`agent.js`, forked inside the host's namespace):
 * started on first use, one request/response channel over IPC, stopped by {@link AgentConnection.close}.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { ResourceTracker } from './tracker.js';

const AGENT_PATH = fileURLToPath(new URL('./agent.js', import.meta.url));

interface AgentHandle {
  child: ChildProcess;
  pending: Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>;
  nextId: number;
}

/** A lazily started helper agent in one namespace; its process is tracked for cleanup. */
export class AgentConnection {
  private agent: Promise<AgentHandle> | undefined;

  /**
   * @param netns - the namespace the agent runs in.
   * @param tracker - records the agent process (killed on cleanup).
   */
  constructor(
    private readonly netns: string,
    private readonly tracker: ResourceTracker,
  ) {}

  private async get(): Promise<AgentHandle> {
    this.agent ??= (async () => {
      const child = fork(AGENT_PATH, [], {
        execPath: 'ip',
        execArgv: ['netns', 'exec', this.netns, process.execPath],
        stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
      });
      const untrack = this.tracker.track('process', `agent in ${this.netns}`, () => {
        if (child.exitCode === null) child.kill('SIGKILL');
      });
      child.once('exit', untrack);
      const h: AgentHandle = { child, pending: new Map(), nextId: 1 };
      await new Promise<void>((resolve, reject) => {
        child.once('error', reject);
        child.once('exit', (code) => reject(new Error(`harness agent in ${this.netns} exited with ${code}`)));
        child.on('message', (m: { ready?: boolean; id?: number; result?: unknown; error?: string }) => {
          if (m.ready) return resolve();
          if (m.id === undefined) return;
          const p = h.pending.get(m.id);
          if (!p) return;
          h.pending.delete(m.id);
          if (m.error !== undefined) p.reject(new Error(m.error));
          else p.resolve(m.result);
        });
      });
      child.on('exit', () => {
        for (const p of h.pending.values()) p.reject(new Error(`harness agent in ${this.netns} exited`));
        h.pending.clear();
      });
      return h;
    })();
    return await this.agent;
  }

  /** Sends one request (`op` with `args`) to the agent, starting it first if needed. @returns its result. */
  async call<T>(op: string, args: Record<string, unknown>): Promise<T> {
    const h = await this.get();
    const id = h.nextId++;
    return await new Promise<T>((resolve, reject) => {
      h.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      h.child.send({ id, op, args });
    });
  }

  /** Stops the agent (its servers close); the next {@link call} starts a new one. */
  async close(): Promise<void> {
    const a = this.agent;
    this.agent = undefined;
    if (!a) return;
    const h = await a.catch(() => undefined);
    if (h && h.child.exitCode === null) {
      const exited = new Promise((r) => h.child.once('exit', r));
      h.child.kill('SIGTERM');
      await exited;
    }
  }
}
