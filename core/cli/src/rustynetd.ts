/**
 * The `rustynetd` program: loads a daemon config, runs the daemon until SIGINT/SIGTERM, and
 * re-reads the netmap on SIGHUP. With `netmap.control` it enrols and long-polls the control plane
 * (see control-source.ts).
 */
import type { Command } from 'commander';
import { apiRequest } from './api-client.js';
import { prepareControlSource } from './control-source.js';
import { daemonModule, type DaemonInstance } from './daemon-api.js';
import { formatError } from './errors.js';
import { describeIngest } from './format.js';
import { io, printJson, type CliIo } from './io.js';
import { addExamples, createBaseProgram, runProgram } from './program.js';

/** Further SIGINT/SIGTERM within this many ms of the first are ignored (not a forced exit). */
export const SIGNAL_COALESCE_MS = 2_000;

/** How long a clean stop may take before a second signal (or this deadline) forces exit. */
export const STOP_DEADLINE_MS = 30_000;

/** Builds the `rustynetd` program. */
export function createRustynetdProgram(): Command {
  const program = createBaseProgram('rustynetd', 'Rustynet daemon: applies signed netmaps to the loaded backend and plugins');
  program
    .requiredOption('-c, --config <file>', 'daemon configuration (JSON; schema: daemonConfigSchema of @rustynet/daemon)')
    .option('--check', 'validate the configuration, print it (without secrets) and exit');
  program.addHelpText(
    'after',
    `
Signals:
  SIGINT, SIGTERM  stop cleanly (tunnel, peers, routes and plugins are removed); another one more than
                   2 s later exits at once
  SIGHUP           re-read the netmap source now

Logs go to the configured log.file, or to stdout.`,
  );
  addExamples(program, [
    'rustynetd --config /etc/rustynet/rustynetd.json',
    'rustynetd --config ./a.json --check',
    'ip netns exec node-a rustynetd --config /tmp/mesh/a.json',
  ]);
  program.action(async (opts: { config: string; check?: boolean }) => {
    const d = await daemonModule();
    const config = await d.loadDaemonConfig(opts.config);
    if (opts.check) {
      printJson(config);
      return;
    }
    const cliIo = io();
    const control =
      'control' in config.netmap
        ? await prepareControlSource(config, config.netmap.control, d, (line) => cliIo.err(`rustynetd: control: ${line}\n`))
        : undefined;
    const daemon = new d.Daemon(config, { cwd: process.cwd(), ...(control && { netmapSource: control.source }) });
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
  });
  return program;
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
