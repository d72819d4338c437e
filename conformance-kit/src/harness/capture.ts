/** Packet captures in a host's namespace with `tcpdump -w`, for the leak and encryption checks. */
import { rmSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ResultPromise, Options as ExecaOptions } from 'execa';
import type { ResourceTracker } from './tracker.js';

/** A running packet capture, see {@link startCapture}. */
export interface Capture {
  /** The pcap file being written. */
  readonly file: string;
  /** Stops tcpdump and returns the raw pcap bytes (search them for marker strings). */
  stop(): Promise<Buffer>;
}

/** What a capture needs of its host. */
export interface CaptureHost {
  readonly netns: string;
  spawn(file: string, args: readonly string[], opts: ExecaOptions): ResultPromise;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/**
 * Captures packets on an interface of `host` (default the underlay `eth0`) with `tcpdump -w`
 * into a file in a new temporary directory `<tmp>/<dirPrefix>-cap-XXXXXX` (tracked for removal),
 * until `stop()`. Resolves once tcpdump listens.
 * @param fileName - called once for the pcap file's name.
 * @param opts.filter tcpdump filter words, e.g. `['udp']`.
 */
export async function startCapture(
  host: CaptureHost,
  tracker: ResourceTracker,
  dirPrefix: string,
  fileName: () => string,
  opts: { iface?: string; filter?: string[] } = {},
): Promise<Capture> {
  const dir = await mkdtemp(join(tmpdir(), `${dirPrefix}-cap-`));
  const file = join(dir, fileName());
  const child = host.spawn(
    'tcpdump',
    ['-i', opts.iface ?? 'eth0', '-n', '-U', '--immediate-mode', '-Z', 'root', '-s', '0', '-w', file, ...(opts.filter ?? [])],
    {
      stdin: 'ignore',
      stdout: 'ignore',
      stderr: 'pipe',
      buffer: false,
    },
  );
  tracker.track('file', dir, () => rmSync(dir, { recursive: true, force: true }));
  await new Promise<void>((resolve, reject) => {
    let err = '';
    const timer = setTimeout(() => reject(new Error(`tcpdump did not start in ${host.netns}: ${err}`)), 10_000);
    child.stderr?.on('data', (d: Buffer) => {
      err += d.toString();
      if (err.includes('listening on')) {
        clearTimeout(timer);
        resolve();
      }
    });
    void Promise.resolve(child).then(() => {
      clearTimeout(timer);
      reject(new Error(`tcpdump exited in ${host.netns}: ${err}`));
    });
  });
  let stopped: Promise<Buffer> | undefined;
  return {
    file,
    stop: () =>
      (stopped ??= (async () => {
        await sleep(50); // let the last packets reach the file (-U flushes per packet)
        child.kill('SIGINT');
        await Promise.resolve(child);
        const bytes = await readFile(file).catch(() => Buffer.alloc(0));
        await rm(dir, { recursive: true, force: true });
        return bytes;
      })()),
  };
}
