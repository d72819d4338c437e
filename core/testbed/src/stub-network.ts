/**
 * A stub network hanging off one host of the mesh: a fresh namespace joined to that host by a
 * veth pair, with a /24 between them and no other route. Used as the "internet" behind an exit
 * node (the stub host sees the exit's side address when the exit masquerades) and as a client's
 * local LAN. The namespace is named under the test network's prefix and tracked, so it goes with
 * the network (also on signals, and as a stale run's leftover).
 */
import { execFile, spawnSync } from 'node:child_process';
import type { TestHost, TestNetwork } from '@rustynet/conformance-kit/harness';

/** Runs `file args` (stdin `input`); resolves with its exit code and stdout, never rejects. */
function run(file: string, args: string[], input?: string): Promise<{ exitCode: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(file, args, { maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : -1) : 0;
      resolve({ exitCode: code, stdout, stderr });
    });
    if (input !== undefined) child.stdin?.end(input);
    else child.stdin?.end();
  });
}

/** {@link run}, rejecting with stderr on a non-zero exit. */
async function must(file: string, args: string[], input?: string): Promise<void> {
  const r = await run(file, args, input);
  if (r.exitCode !== 0) throw new Error(`${file} ${args.join(' ')} exited ${r.exitCode}: ${r.stderr.trim()}`);
}

/** A stub network made by {@link attachStubNetwork}. */
export interface StubNetwork {
  /** The stub host's namespace. */
  readonly netns: string;
  /** The stub host's address (`<net>.2`). */
  readonly address: string;
  /** The attached host's address on the stub network (`<net>.1`). */
  readonly hostSideAddress: string;
  /** The attached host's veth interface name. */
  readonly hostSideIf: string;
  /**
   * Watches the stub host's `eth0` for `ms` with `tcpdump -n -l` and `filter`.
   * @returns the source addresses of the IPv4 packets seen (one entry per packet).
   */
  watchSources(ms: number, filter: string[]): Promise<string[]>;
  /** Runs a program in the stub host's namespace. */
  exec(file: string, args: string[]): Promise<{ exitCode: number; stdout: string }>;
}

/**
 * Creates namespace `<net.prefix>-<name>` with `eth0` (`<net24>.2/24`) wired to a new veth
 * `<name>0` (`<net24>.1/24`) in `host`'s namespace.
 * @param net24 the first three octets, e.g. `203.0.113` (TEST-NET-3, RFC 5737).
 * @throws Error with ip's stderr when it fails; what was made is tracked for removal anyway.
 */
export async function attachStubNetwork(net: TestNetwork, host: TestHost, name: string, net24: string): Promise<StubNetwork> {
  if (!/^[a-z][a-z0-9]{0,7}$/.test(name)) throw new RangeError(`stub network name ${name}: a-z0-9, at most 8`);
  const ns = `${net.prefix}-${name}`;
  const hostIf = `${name}0`;
  await must('ip', ['netns', 'add', ns]);
  net.tracker.track('netns', ns, () => {
    spawnSync('ip', ['netns', 'pids', ns], { encoding: 'utf8' })
      .stdout.split(/\s+/)
      .filter(Boolean)
      .forEach((p) => {
        try {
          process.kill(Number(p), 'SIGKILL');
        } catch {
          /* gone */
        }
      });
    spawnSync('ip', ['netns', 'del', ns]);
  });
  await must('ip', ['-n', host.netns, 'link', 'add', hostIf, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns]);
  await must('ip', ['-n', host.netns, '-batch', '-'], `addr add ${net24}.1/24 dev ${hostIf}\nlink set ${hostIf} up\n`);
  await must('ip', ['-n', ns, '-batch', '-'], `link set lo up\naddr add ${net24}.2/24 dev eth0\nlink set eth0 up\n`);
  return {
    netns: ns,
    address: `${net24}.2`,
    hostSideAddress: `${net24}.1`,
    hostSideIf: hostIf,
    async watchSources(ms, filter) {
      const r = await run('ip', [
        'netns',
        'exec',
        ns,
        'timeout',
        '-s',
        'INT',
        String(ms / 1000),
        'tcpdump',
        '-n',
        '-l',
        '-i',
        'eth0',
        ...filter,
      ]);
      return [...r.stdout.matchAll(/ IP (\d+\.\d+\.\d+\.\d+)(?:\.\d+)? > /g)].map((m) => m[1]);
    },
    async exec(file, args) {
      const r = await run('ip', ['netns', 'exec', ns, file, ...args]);
      return { exitCode: r.exitCode, stdout: r.stdout };
    },
  };
}
