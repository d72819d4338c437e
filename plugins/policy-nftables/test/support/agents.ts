/**
 * Starts probe agents (probe-agent.ts) inside namespaces and talks to them.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import readline from 'node:readline';

const AGENT = fileURLToPath(new URL('./probe-agent.js', import.meta.url));

/** A running agent process inside a namespace. */
export class Agent {
  private nextId = 0;
  private waiters = new Map<string, (v: Record<string, unknown>) => void>();
  private constructor(readonly child: ChildProcess) {}

  /** Starts `probe-agent <mode> ...args` in `ns`; resolves when it is ready. */
  static async start(ns: string, mode: 'server' | 'client', args: string[] = []): Promise<Agent> {
    const child = spawn('ip', ['netns', 'exec', ns, process.execPath, AGENT, mode, ...args], { stdio: ['pipe', 'pipe', 'inherit'] });
    const agent = new Agent(child);
    const rl = readline.createInterface({ input: child.stdout });
    let ready: () => void = () => undefined;
    const readyP = new Promise<void>((r) => (ready = r));
    rl.on('line', (line) => {
      if (line === 'ready') return void ready();
      const msg = JSON.parse(line) as Record<string, unknown>;
      const w = agent.waiters.get(String(msg['id']));
      agent.waiters.delete(String(msg['id']));
      w?.(msg);
    });
    if (mode === 'client') ready();
    await Promise.race([readyP, new Promise((_, rej) => child.once('exit', (c) => rej(new Error(`agent ${mode} in ${ns} exited ${c}`))))]);
    return agent;
  }

  /** Sends a command and resolves with the agent's answer. */
  request(cmd: Record<string, unknown>): Promise<Record<string, unknown>> {
    const id = String(this.nextId++);
    return new Promise((resolve) => {
      this.waiters.set(id, resolve);
      this.child.stdin!.write(JSON.stringify({ ...cmd, id }) + '\n');
    });
  }

  /** One probe; true when the flow got through. */
  async probe(proto: 'tcp' | 'udp' | 'icmp', src: string, dst: string, port?: number, timeoutMs = 600): Promise<boolean> {
    const r = await this.request({ op: 'probe', proto, src, dst, port, timeoutMs });
    return r['ok'] === true;
  }

  /** Starts a continuous probe; call the returned function to stop it and get the counts. */
  async loop(
    proto: 'tcp' | 'udp',
    src: string,
    dst: string,
    port: number,
    everyMs: number,
    timeoutMs = 500,
  ): Promise<() => Promise<{ attempts: number; successes: number }>> {
    const started = await this.request({ op: 'loop', proto, src, dst, port, everyMs, timeoutMs });
    return async () => {
      const r = await this.request({ op: 'stopLoop', loop: started['id'] });
      return { attempts: Number(r['attempts']), successes: Number(r['successes']) };
    };
  }

  stop(): void {
    if (this.child.exitCode === null && this.child.pid !== undefined) this.child.kill('SIGKILL');
  }
}
