/**
 * The plugin host: a child process the kit starts as
 * `ip netns exec <netns> node plugin-host.js` with an IPC channel. It loads the plugin under
 * test exactly as rustynetd does (`@rustynet/daemon`'s `createHostServices` + `loadPlugin`), so
 * the plugin's devices, sockets, processes and routes live in the test namespace, and serves
 * the plugin's methods over IPC. The CommandRunner given to the plugin is wrapped to record
 * every command (for spawn counts and the secrets checks); the hook timeline comes from the
 * daemon's hooks.
 */
import { createPrivateKey, sign as cryptoSign } from 'node:crypto';
import { mkdirSync, readFileSync } from 'node:fs';
import type { CommandRunner, ManagedProcess, Plugin, RunOptions, SpawnOptions } from '@rustynet/plugin-api';
import { toWireError, type CommandRecord, type HostLogs, type HostRequest, type HostResponse, type LoadResult } from './protocol.js';
import { OutputLog } from './output-log.js';

/** What the host needs of the daemon's hooks: the tap timeline (a `DaemonHooks` satisfies it). */
interface HookTimelineSource {
  timeline: { entries(): readonly unknown[] };
}

const commands: CommandRecord[] = [];
let seq = 0;
const spawned: ManagedProcess[] = [];
/** Output of `run` commands by sequence number (for `--keep-logs`), bounded. */
const runOutput = new Map<number, { stdout: string; stderr: string; exitCode: number }>();
const RUN_OUTPUT_MAX = 4000;
/** Full output of spawned processes, gathered from their bounded tails. */
const spawnLogs: OutputLog[] = [];

function record(
  via: CommandRecord['via'],
  file: string,
  args: readonly string[],
  env: Record<string, string> | undefined,
  input: unknown,
): CommandRecord {
  const rec: CommandRecord = {
    via,
    file,
    args: [...args].map(String),
    env: { ...(env ?? {}) },
    inputBytes: typeof input === 'string' ? Buffer.byteLength(input) : input instanceof Uint8Array ? input.length : 0,
    at: Date.now(),
    seq: ++seq,
  };
  commands.push(rec);
  if (commands.length > 20_000) commands.splice(0, commands.length - 20_000);
  return rec;
}

/** Wraps the host's runner: same behaviour, every call recorded. */
function recordingRunner(inner: CommandRunner): CommandRunner {
  return {
    run: async (file: string, args: readonly string[], options?: RunOptions) => {
      const rec = record('run', file, args, options?.env, options?.input);
      const keep = (r: { stdout?: unknown; stderr?: unknown; exitCode?: unknown }): void => {
        runOutput.set(rec.seq, {
          stdout: typeof r.stdout === 'string' ? r.stdout : '',
          stderr: typeof r.stderr === 'string' ? r.stderr : '',
          exitCode: typeof r.exitCode === 'number' ? r.exitCode : -1,
        });
        if (runOutput.size > RUN_OUTPUT_MAX) runOutput.delete(runOutput.keys().next().value ?? 0);
      };
      try {
        const r = await inner.run(file, args, options);
        keep(r);
        return r;
      } catch (err) {
        const d: unknown = typeof err === 'object' && err !== null ? Reflect.get(err, 'details') : undefined;
        keep(typeof d === 'object' && d !== null ? { stderr: Reflect.get(d, 'stderr'), exitCode: Reflect.get(d, 'exitCode') } : {});
        throw err;
      }
    },
    spawn: (file: string, args: readonly string[], options?: SpawnOptions) => {
      const rec = record('spawn', file, args, options?.env, options?.input);
      const p = inner.spawn(file, args, options);
      if (p.pid !== undefined) rec.pid = p.pid;
      spawned.push(p);
      spawnLogs.push(new OutputLog(p, file, args));
      return p;
    },
  };
}

let instance: Plugin | undefined;
let hooks: HookTimelineSource | undefined;

async function handle(req: HostRequest): Promise<unknown> {
  switch (req.op) {
    case 'load': {
      const daemon = await import('@rustynet/daemon');
      if (typeof daemon.loadPlugin !== 'function' || typeof daemon.createHostServices !== 'function') {
        throw Object.assign(new Error('@rustynet/daemon does not export loadPlugin/createHostServices'), {
          name: 'RustynetError',
          code: 'INTERNAL',
        });
      }
      mkdirSync(req.stateDir, { recursive: true, mode: 0o700 });
      const services = daemon.createHostServices({
        stateDir: req.stateDir,
        logLevel: 'debug',
        logFile: req.logFile,
        processMetrics: false,
      });
      const wrapped = { ...services, runner: recordingRunner(services.runner) };
      const daemonHooks = typeof daemon.DaemonHooks === 'function' ? new daemon.DaemonHooks({}) : undefined;
      hooks = daemonHooks;
      const loaded = await daemon.loadPlugin(req.spec, {
        services: wrapped,
        cwd: req.cwd,
        ...(req.options && { options: req.options }),
        ...(req.expectKind && { expectKind: req.expectKind }),
        ...(daemonHooks && { hooks: daemonHooks }),
      });
      instance = loaded.instance;
      const res: LoadResult = {
        manifest: loaded.manifest,
        apiVersion: loaded.apiVersion,
        dir: loaded.dir,
        pluginStateDir: loaded.context.state.dir,
        pid: process.pid,
      };
      return res;
    }
    case 'call': {
      if (!instance) throw new Error('plugin not loaded');
      const fn: unknown = Reflect.get(instance, req.method);
      if (typeof fn !== 'function') {
        throw Object.assign(new Error(`plugin has no method ${req.method}`), { name: 'TypeError' });
      }
      if (req.signer) {
        const target = req.args[req.signer.arg];
        if (typeof target !== 'object' || target === null) throw new Error(`signer: argument ${req.signer.arg} is not an object`);
        const key = createPrivateKey(readFileSync(req.signer.keyFile, 'utf8'));
        (target as Record<string, unknown>)['sign'] = (challenge: Uint8Array): Promise<Uint8Array> =>
          Promise.resolve(new Uint8Array(cryptoSign(null, challenge, key)));
      }
      const args = req.aborted ? [...req.args, { signal: AbortSignal.abort() }] : req.args;
      const result: unknown = await Reflect.apply(fn, instance, args);
      return result === undefined ? null : JSON.parse(JSON.stringify(result));
    }
    case 'commands':
      return commands.filter((c) => c.seq > (req.since ?? 0));
    case 'timeline':
      return hooks ? JSON.parse(JSON.stringify(hooks.timeline.entries())) : null;
    case 'logs': {
      const logs: HostLogs = {
        commands: commands.filter((c) => c.seq > req.since).map((c) => ({ ...c, ...runOutput.get(c.seq) })),
        processes: spawnLogs.map((l) => l.since(req.offsets[String(l.pid)] ?? 0)),
      };
      return logs;
    }
    case 'processes':
      return spawned.map((p) => ({ pid: p.pid ?? null, tail: p.outputTail() }));
    default:
      throw new Error(`unknown op ${(req as { op: string }).op}`);
  }
}

process.on('message', (raw: unknown) => {
  const req = raw as HostRequest;
  handle(req).then(
    (result) => process.send?.({ id: req.id, ok: true, result } satisfies HostResponse),
    (err: unknown) => process.send?.({ id: req.id, ok: false, error: toWireError(err) } satisfies HostResponse),
  );
});
process.on('disconnect', () => {
  // The kit went away: best effort, stop the plugin so it does not leave state behind.
  const plugin = instance;
  const done = (): never => process.exit(0);
  if (plugin && typeof plugin.stop === 'function') {
    const t = setTimeout(done, 5000);
    Promise.resolve()
      .then(() => plugin.stop())
      .catch(() => undefined)
      .finally(() => {
        clearTimeout(t);
        done();
      });
  } else done();
});
process.on('unhandledRejection', (err) => {
  process.stderr.write(`plugin-host: unhandled rejection: ${String((err as Error)?.stack ?? err)}\n`);
});
process.send?.({ ready: true });
