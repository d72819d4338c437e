/**
 * Test-only recording CommandRunner for unit tests. `ip` and `sysctl` succeed (or fail on demand),
 * `openvpn --version` reports 2.6.14, and a spawned `openvpn --config <file>` is simulated by a
 * UNIX-socket server that speaks the management protocol at the path the config names. Nothing
 * touches the network.
 */
import { readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import type { CommandResult, CommandRunner, ManagedProcess, RunOptions, SpawnOptions } from '@rustynet/plugin-api';
import { RustynetError } from '@rustynet/plugin-api';
import type { RecordedCall } from './netns-runner.js';

export interface FakeProcess extends ManagedProcess {
  configPath: string;
  config: string;
  /** Simulates a crash: the process exits with code 1 without being asked. */
  crash(): void;
  alive: boolean;
}

export class FakeRunner implements CommandRunner {
  readonly calls: RecordedCall[] = [];
  readonly processes: FakeProcess[] = [];
  /** When set, `ip` fails for inputs matching it. */
  failIp: RegExp | undefined;
  /** Extra `ip -o link show` lines (e.g. stale devices). */
  extraLinks: string[] = [];
  /** When true, spawned processes open their management socket only after {@link release}. */
  hold = false;
  private held: Array<() => void> = [];
  private spawnWaiters: Array<{ n: number; resolve: () => void }> = [];
  stateLine = (cfg: string): string => {
    const local = /^ifconfig (\S+)/m.exec(cfg)?.[1] ?? '';
    const remote = /^remote (\S+) (\d+)/m.exec(cfg);
    return `1700000000,CONNECTED,SUCCESS,${local},${remote?.[1] ?? ''},${remote?.[2] ?? ''},,`;
  };
  counters = { tunRead: 1000, tunWrite: 2000 };

  async run(file: string, args: readonly string[], options: RunOptions = {}): Promise<CommandResult> {
    const input = typeof options.input === 'string' ? options.input : undefined;
    this.calls.push({
      kind: 'run',
      file,
      args: [...args],
      ...(options.env ? { env: options.env } : {}),
      ...(input !== undefined ? { input } : {}),
    });
    if (file === 'openvpn' && args[0] === '--version') {
      return { stdout: 'OpenVPN 2.6.14 x86_64-pc-linux-gnu [SSL (OpenSSL)]\n', stderr: '', exitCode: 0 };
    }
    if (file === 'ip') {
      if (this.failIp && this.failIp.test(`${args.join(' ')}\n${input ?? ''}`)) {
        if (options.reject === false) return { stdout: '', stderr: 'RTNETLINK answers: simulated failure', exitCode: 1 };
        throw new RustynetError('COMMAND_FAILED', 'ip: simulated failure', { details: { exitCode: 1, stderr: 'simulated failure' } });
      }
      if (args.join(' ') === '-o link show') {
        return {
          stdout: ['1: lo: <LOOPBACK,UP>', '2: eth0@if3: <BROADCAST>', ...this.extraLinks].join('\n') + '\n',
          stderr: '',
          exitCode: 0,
        };
      }
      return { stdout: '', stderr: '', exitCode: 0 };
    }
    return { stdout: '', stderr: '', exitCode: 0 };
  }

  /** Resolves once at least `n` processes were spawned. */
  spawned(n: number): Promise<void> {
    if (this.processes.length >= n) return Promise.resolve();
    return new Promise((resolve) => this.spawnWaiters.push({ n, resolve }));
  }

  /** Opens the management sockets of held processes. */
  release(): void {
    this.hold = false;
    for (const open of this.held.splice(0)) open();
  }

  spawn(file: string, args: readonly string[], options: SpawnOptions = {}): ManagedProcess {
    this.calls.push({ kind: 'spawn', file, args: [...args], ...(options.env ? { env: options.env } : {}) });
    const configPath = args[1] ?? '';
    const config = readFileSync(configPath, 'utf8');
    const sockPath = /^management (\S+) unix$/m.exec(config)?.[1] ?? '';
    let server: Server | undefined;
    let resolveExit!: (r: { exitCode: number | null; signal: string | null }) => void;
    const exited = new Promise<{ exitCode: number | null; signal: string | null }>((r) => (resolveExit = r));
    const open = (): void => {
      if (!proc.alive) return;
      server = createServer((sock) => {
        sock.setEncoding('utf8');
        sock.write(">INFO:OpenVPN Management Interface Version 5 -- type 'help' for more info\n");
        let buf = '';
        sock.on('data', (d: string) => {
          buf += d;
          let nl: number;
          while ((nl = buf.indexOf('\n')) >= 0) {
            const cmd = buf.slice(0, nl).trim();
            buf = buf.slice(nl + 1);
            if (cmd === 'state') sock.write(`${this.stateLine(config)}\nEND\n`);
            else if (cmd === 'status')
              sock.write(
                `OpenVPN STATISTICS\nUpdated,now\nTUN/TAP read bytes,${this.counters.tunRead}\nTUN/TAP write bytes,${this.counters.tunWrite}\nTCP/UDP read bytes,1\nTCP/UDP write bytes,1\nEND\n`,
              );
            else if (cmd === 'quit') sock.end();
            else sock.write('ERROR: unknown command\n');
          }
        });
        sock.on('error', () => undefined);
      });
      server.listen(sockPath);
    };
    const exit = (r: { exitCode: number | null; signal: string | null }): void => {
      if (!proc.alive) return;
      proc.alive = false;
      server?.close();
      rmSync(sockPath, { force: true });
      resolveExit(r);
    };
    const proc: FakeProcess = {
      pid: 100000 + this.processes.length,
      exited,
      configPath,
      config,
      alive: true,
      kill: (signal = 'SIGTERM') => exit({ exitCode: null, signal }),
      crash: () => exit({ exitCode: 1, signal: null }),
      outputTail: () => 'fake openvpn output',
    };
    this.processes.push(proc);
    if (this.hold) this.held.push(open);
    else open();
    for (const w of this.spawnWaiters.filter((x) => this.processes.length >= x.n)) {
      this.spawnWaiters.splice(this.spawnWaiters.indexOf(w), 1);
      w.resolve();
    }
    return proc;
  }
}
