/**
 * The two command-line tools this backend drives, run through the host's CommandRunner:
 * `wg` (wireguard-tools, wg(8)) and `ip` (iproute2, ip(8)).
 */
import type { CommandResult, CommandRunner, Logger, RunOptions } from '@rustynet/plugin-api';
import type { CallScope } from '@rustynet/plugin-kit';
import { toBackendError } from './errors.js';
import type { WireguardOptions } from './options.js';

/** Runs `wg` and `ip` for one plugin instance, with logging and error mapping. */
export class Tools {
  /** Number of `wg`/`ip` processes run so far (diagnostics and tests). */
  invocations = 0;

  constructor(
    readonly runner: CommandRunner,
    private readonly options: WireguardOptions,
    private readonly logger: Logger,
  ) {}

  /**
   * Runs `wg <args>`. Arguments never hold secrets (keys go by file path).
   * @throws RustynetError as {@link toBackendError}.
   */
  wg(args: readonly string[], scope: CallScope, extra?: RunOptions): Promise<CommandResult> {
    return this.run(this.options.wgPath, args, scope, extra);
  }

  /**
   * Runs `ip <args>`.
   * @throws RustynetError as {@link toBackendError}.
   */
  ip(args: readonly string[], scope: CallScope, extra?: RunOptions): Promise<CommandResult> {
    return this.run(this.options.ipPath, args, scope, extra);
  }

  private async run(file: string, args: readonly string[], scope: CallScope, extra: RunOptions = {}): Promise<CommandResult> {
    const label = `${file} ${args.slice(0, 2).join(' ')}`;
    const opts = scope.runOptions(extra);
    this.invocations++;
    this.logger.debug({ command: label, argc: args.length, stdinBytes: extra.input?.length ?? 0 }, 'run');
    try {
      return await this.runner.run(file, args, opts);
    } catch (err) {
      throw toBackendError(err, label);
    }
  }
}
