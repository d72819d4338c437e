/** Runs `ip`, `sysctl` and `openvpn --version` for the OpenVPN backend, with its error mapping. */
import { RustynetError, isRustynetError, type CommandRunner, type Logger } from '@rustynet/plugin-api';
import { isAbortError } from '@rustynet/plugin-kit';
import type { OpenVpnOptions } from './options.js';

/** The host tools of one backend instance. */
export class IpTool {
  constructor(
    private readonly runner: CommandRunner,
    private readonly opts: OpenVpnOptions,
    private readonly log: Logger,
  ) {}

  /**
   * Runs `ip -batch -` with the given lines (one process for any number of changes).
   * @param force `-force`: run every line, reporting the failed ones.
   * @param pre options before `-batch`, e.g. `['-6']`.
   * @throws RustynetError `ABORTED`/`TIMEOUT` as the runner reports them, else `BACKEND_FAILED`
   *   with the lines and stderr in `details`.
   */
  async batch(lines: string[], signal?: AbortSignal, force = false, pre: string[] = []): Promise<void> {
    if (lines.length === 0) return;
    const args = [...pre, ...(force ? ['-force', '-batch', '-'] : ['-batch', '-'])];
    try {
      await this.runner.run(this.opts.ipPath, args, { input: lines.join('\n') + '\n', ...(signal ? { signal } : {}) });
    } catch (err) {
      if (isAbortError(err)) throw err;
      throw new RustynetError('BACKEND_FAILED', `ip -batch failed: ${(err as Error).message}`, {
        cause: err,
        details: { commands: lines, stderr: isRustynetError(err) ? err.details?.['stderr'] : undefined },
      });
    }
  }

  /** Runs `ip <args>` without failing on a non-zero exit. */
  ip(args: string[]): ReturnType<CommandRunner['run']> {
    return this.runner.run(this.opts.ipPath, args, { reject: false });
  }

  /** Per-device strict reverse-path filter: IPv4 packets from a peer must come from its routed prefixes. */
  async setRpFilter(devices: string[], signal?: AbortSignal): Promise<void> {
    if (devices.length === 0) return;
    const args = ['-q', '-w', ...devices.map((d) => `net.ipv4.conf.${d}.rp_filter=1`)];
    const r = await this.runner.run(this.opts.sysctlPath, args, { reject: false, ...(signal ? { signal } : {}) });
    if (r.exitCode !== 0) this.log.warn({ stderr: r.stderr }, 'could not set rp_filter on the tun devices');
  }

  /**
   * Checks that `openvpn` runs and is 2.6 or later (`--peer-fingerprint`).
   * @throws RustynetError `BACKEND_FAILED`.
   */
  async checkBinary(signal?: AbortSignal): Promise<void> {
    let out: string;
    try {
      const r = await this.runner.run(this.opts.openvpnPath, ['--version'], { reject: false, ...(signal ? { signal } : {}) });
      out = r.stdout + r.stderr;
    } catch (err) {
      throw new RustynetError('BACKEND_FAILED', `cannot run ${this.opts.openvpnPath}: ${(err as Error).message}`, { cause: err });
    }
    const m = /OpenVPN (\d+)\.(\d+)/.exec(out);
    if (!m || Number(m[1]) < 2 || (Number(m[1]) === 2 && Number(m[2]) < 6)) {
      throw new RustynetError(
        'BACKEND_FAILED',
        `openvpn 2.6 or later is required (--peer-fingerprint); found: ${out.split('\n')[0] ?? 'nothing'}`,
      );
    }
  }
}
