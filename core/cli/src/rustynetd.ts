/**
 * The `rustynetd` program: loads a daemon config, runs the daemon until SIGINT/SIGTERM, and
 * re-reads the netmap on SIGHUP. With `netmap.control` it enrols and long-polls the control plane
 * (see control-source.ts).
 */
import type { Command } from 'commander';
import { dirname, join, resolve } from 'node:path';
import { apiRequest } from './api-client.js';
import { prepareControlSource } from './control-source.js';
import { rotateKeys } from './rotate-keys.js';
import { startProgramTracing } from './tracing.js';
import { daemonModule, type DaemonConfigView, type DaemonInstance, type DaemonModule } from './daemon-api.js';
import { EXIT_USAGE, ExitStatus, formatError } from './errors.js';
import { describeIngest } from './format.js';
import { io, printJson, type CliIo } from './io.js';
import { addExamples, createBaseProgram, runProgram } from './program.js';

/** Further SIGINT/SIGTERM within this many ms of the first are ignored (not a forced exit). */
export const SIGNAL_COALESCE_MS = 2_000;

/** How long a clean stop may take before a second signal (or this deadline) forces exit. */
export const STOP_DEADLINE_MS = 30_000;

/** Where the default config lives unless `RUSTYNET_CONFIG_DIR` says otherwise. */
export const DEFAULT_CONFIG_DIR = '/etc/rustynet';

/** `$RUSTYNET_CONFIG_DIR/rustynetd.json`, else `/etc/rustynet/rustynetd.json`. */
export function defaultConfigPath(env: Record<string, string | undefined>): string {
  return join(env['RUSTYNET_CONFIG_DIR'] || DEFAULT_CONFIG_DIR, 'rustynetd.json');
}

/** Builds the `rustynetd` program. */
export function createRustynetdProgram(): Command {
  const program = createBaseProgram('rustynetd', 'Rustynet daemon: applies signed netmaps to the loaded backend and plugins');
  program
    .option(
      '-c, --config <file>',
      'daemon configuration (JSON; schema: daemonConfigSchema of @rustynet/daemon); default $RUSTYNET_CONFIG_DIR/rustynetd.json, else /etc/rustynet/rustynetd.json',
    )
    .option(
      '--check',
      'check the configuration (every plugin loaded and its options validated, key files, netmap), print what was checked, exit 0 or 2',
    )
    .option('--json', 'with --check: print the checks and the effective configuration as JSON');
  program.addHelpText(
    'after',
    `
Signals:
  SIGINT, SIGTERM  stop cleanly (tunnel, peers, routes and plugins are removed); another one more than
                   2 s later exits at once
  SIGHUP           re-read the netmap source now

Logs go to the configured log.file, or to stdout. Relative paths in the configuration, and plugin
packages, are resolved from the configuration file's directory.`,
  );
  addExamples(program, [
    'rustynetd --config /etc/rustynet/rustynetd.json',
    'rustynetd --check                        # checks /etc/rustynet/rustynetd.json',
    'rustynetd --config ./a.json --check --json',
    'ip netns exec node-a rustynetd --config /tmp/mesh/a.json',
  ]);
  program.action(async (opts: { config?: string; check?: boolean; json?: boolean }) => {
    const cliIo = io();
    const d = await daemonModule();
    const configPath = resolve(opts.config ?? defaultConfigPath(cliIo.env));
    const config = await d.loadDaemonConfig(configPath);
    const cwd = dirname(configPath);
    if (opts.check) {
      await runCheck(d, config, configPath, cwd, opts.json === true);
      return;
    }
    const control =
      'control' in config.netmap
        ? await prepareControlSource(config, config.netmap.control, d, (line) => cliIo.err(`rustynetd: control: ${line}\n`))
        : undefined;
    const tracing = await startProgramTracing(d, 'rustynetd', config.tracing, 'rustynetd', config.node);
    const log = (line: string): void => cliIo.err(`rustynetd: control: ${line}\n`);
    const daemon: InstanceType<DaemonModule['Daemon']> = new d.Daemon(config, {
      cwd,
      ...(control && {
        netmapSource: control.source,
        rotateKeys: () => rotateKeys({ config, d, cwd, ...control, log, applyRotatedKeys: () => daemon.applyRotatedKeys() }),
      }),
    });
    try {
      await runUntilSignal(
        daemon,
        config.socket,
        control && {
          // A new map from the long-poll: ingest now instead of at the next poll tick. At expiry
          // the daemon itself fails closed and comes back on the next fresh map.
          afterStart: () =>
            control.start(() => void daemon.pollNow().catch((err: unknown) => cliIo.err(`${formatError('rustynetd', err)}\n`))),
          beforeStop: () => control.stop(),
        },
      );
    } finally {
      // Exports the spans still buffered (the stop's own path switches included).
      await tracing?.shutdown().catch((err: unknown) => cliIo.err(`${formatError('rustynetd: tracing', err)}\n`));
    }
  });
  return program;
}

/**
 * `rustynetd --check`: prints one line per checked field (or JSON), then exits 2 naming the first
 * failing field when anything failed.
 */
async function runCheck(d: DaemonModule, config: DaemonConfigView, path: string, cwd: string, json: boolean): Promise<void> {
  const cliIo = io();
  const checks = await d.checkDaemonConfig(config, cwd);
  const failed = checks.filter((c) => c.result === 'fail');
  if (json) printJson({ config: path, ok: failed.length === 0, checks, effective: config });
  else {
    cliIo.out(`rustynetd: checking ${path}\n`);
    const width = Math.max(...checks.map((c) => c.field.length));
    for (const c of checks) cliIo.out(`  ${c.result.toUpperCase().padEnd(4)}  ${c.field.padEnd(width)}  ${c.message}\n`);
  }
  const first = failed[0];
  if (first) {
    cliIo.err(
      `rustynetd: ${first.code ?? 'CONFIG_INVALID'}: ${first.field}: ${first.message}${failed.length > 1 ? ` (and ${failed.length - 1} more)` : ''}\n`,
    );
    throw new ExitStatus(EXIT_USAGE);
  }
  if (!json) cliIo.out(`rustynetd: ${path} is OK (${checks.length} checks)\n`);
}

/**
 * Starts `daemon`, then waits for SIGINT/SIGTERM (clean stop) while SIGHUP reloads the netmap.
 * @throws whatever `start` throws, after stopping what was started.
 */
async function runUntilSignal(
  daemon: DaemonInstance,
  socket: string,
  around?: { afterStart: () => void; beforeStop: () => Promise<void> },
): Promise<void> {
  const cliIo = io();
  let stopping: Promise<void> | undefined;
  let resolveDone!: () => void;
  const done = new Promise<void>((r) => (resolveDone = r));

  let firstSignalAt = 0;
  const stop = (signal: string): void => {
    if (stopping) {
      // Ctrl-C in a terminal reaches the whole process group, and supervisors often follow up
      // with SIGTERM: signals within the grace period are one request.
      if (Date.now() - firstSignalAt < SIGNAL_COALESCE_MS) return;
      cliIo.err(`rustynetd: ${signal} again, exiting without clean stop\n`);
      process.exit(1);
    }
    firstSignalAt = Date.now();
    cliIo.err(`rustynetd: ${signal}, stopping\n`);
    const timer = setTimeout(() => {
      cliIo.err(`rustynetd: TIMEOUT: clean stop took longer than ${STOP_DEADLINE_MS} ms, exiting\n`);
      process.exit(1);
    }, STOP_DEADLINE_MS);
    timer.unref();
    stopping = (around ? around.beforeStop().catch(() => undefined) : Promise.resolve())
      .then(() => daemon.stop())
      .catch((err: unknown) => {
        cliIo.err(`${formatError('rustynetd', err)}\n`);
        process.exitCode = 1;
      })
      .finally(() => {
        clearTimeout(timer);
        resolveDone();
      });
  };
  const onInt = (): void => stop('SIGINT');
  const onTerm = (): void => stop('SIGTERM');
  const onHup = (): void => {
    const reload = daemon.reload ? daemon.reload() : apiRequest(socket, 'POST', '/v1/netmap/reload', { timeoutMs: 30_000 });
    Promise.resolve(reload).then(
      (r) => cliIo.err(`rustynetd: SIGHUP, netmap reload: ${describeIngest(r)}\n`),
      (err: unknown) => cliIo.err(`${formatError('rustynetd', err)}\n`),
    );
  };
  process.on('SIGINT', onInt);
  process.on('SIGTERM', onTerm);
  process.on('SIGHUP', onHup);
  try {
    try {
      await daemon.start();
    } catch (err) {
      // A signal during start: start gave up because of the stop, which tears down what it built.
      if (stopping) {
        await done;
        return;
      }
      await daemon.stop().catch(() => undefined);
      throw err;
    }
    if (!stopping) {
      around?.afterStart();
      cliIo.err(`rustynetd: running (pid ${process.pid}, local API ${socket})\n`);
    }
    await done;
  } finally {
    process.off('SIGINT', onInt);
    process.off('SIGTERM', onTerm);
    process.off('SIGHUP', onHup);
  }
}

/**
 * Runs `rustynetd` with `argv` (`process.argv` shape).
 * @returns the exit status (0 clean stop, 1 failure, 2 usage / config error).
 */
export function runDaemonCli(argv: readonly string[], cliIo?: CliIo): Promise<number> {
  return runProgram(createRustynetdProgram(), argv, cliIo);
}
