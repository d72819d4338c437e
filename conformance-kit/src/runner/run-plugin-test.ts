import { randomInt } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { cpus, release, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import Mocha from 'mocha';
import type { LoadedPlugin } from '@rustynet/daemon';
import { API_VERSION, declaredSessionReestablishSeconds, type PluginKind } from '@rustynet/plugin-api';
import { ConformanceFailure } from '../suites/errors.js';
import { kitMeasurements, kitMeta, TEST_ID_PATTERN } from '../suites/define.js';
import { suiteFor, suiteKinds, type SuiteFactory, type SuiteRunSettings } from '../suites/registry.js';
import { listTests, listText } from './list-tests.js';
import { formatRunError, PROFILES, runErrorOf, type RunError } from './run-error.js';
import { DEFAULT_POLICY_BACKEND } from '../suites/policy/fixture.js';
import { REPORT_SCHEMA_ID, sessionNote, summaryText, toJUnit, type ConformanceReport, type TestResult } from './report.js';

/** Options of {@link runPluginTest} (the flags of `rustynet plugin test`). */
export interface RunPluginTestOptions {
  /** Package name (resolved from `cwd`) or path to the plugin directory. */
  plugin: string;
  /** `full` (default) or `quick` (skips the slowest tests, reported as skipped); another value is refused (`INVALID_INPUT`, exit 2). */
  profile?: string;
  /** Only tests whose `<id>: <title>` matches this regular expression. */
  grep?: string;
  /** `spec` (default, readable), `json` (report schema) or `junit` (XML). */
  reporter?: 'spec' | 'json' | 'junit';
  /** File for the json/junit report (stdout when absent). With `spec`, a JSON report is written there. */
  output?: string;
  /** Seed for generated names and payloads (recorded in the report). Default random. */
  seed?: number;
  /** Multiplies every deadline (>0). Default 1. */
  timeoutMultiplier?: number;
  /** Working directory for resolving `plugin`. Default `process.cwd()`. */
  cwd?: string;
  /** Plugin options, validated against its configSchema. */
  options?: Record<string, unknown>;
  /**
   * Policy suites only: the backend plugin (package name or path) that carries the traffic
   * underneath the policy plugin. Default env `RUSTYNET_KIT_POLICY_BACKEND`, else
   * `@rustynet/backend-wireguard`. Ignored for other kinds. Loaded up front like the plugin: one
   * that cannot be loaded (or is not a backend) ends the run with exit 2 and the loader's error.
   */
  backend?: string;
  /** List the tests (id, title, capability gate) the run would register and run nothing. */
  list?: boolean;
  /** Stop after the first failed test (the network is still torn down). */
  bail?: boolean;
  /**
   * Directory for per-test logs: `<dir>/<test id>/` gets the full stdout and stderr of every
   * process the plugin spawned or ran, the commands, and the hook timeline of each plugin host.
   */
  keepLogs?: string;
  /** Where readable output goes (default process.stdout). */
  stdout?: NodeJS.WritableStream;
  /** Where errors go (default process.stderr). */
  stderr?: NodeJS.WritableStream;
}

/** Exit codes of {@link runPluginTest}. */
export const EXIT_PASSED = 0;
/** Exit code: a test failed, a suite hook failed, or no test matched `grep`. */
export const EXIT_FAILED = 1;
/** Exit code: the plugin (or a policy suite's backend) could not be loaded, or an option is invalid. */
export const EXIT_LOAD_ERROR = 2;

/** The kit's own directory: policy backends given by package name fall back to resolving here. */
const KIT_DIR = fileURLToPath(new URL('../../../', import.meta.url));

const KIT_PKG = JSON.parse(readFileSync(fileURLToPath(new URL('../../../package.json', import.meta.url)), 'utf8')) as {
  name: string;
  version: string;
};

/** Name and version of the kit. */
export const KIT_NAME = KIT_PKG.name;
/** Version of this kit (its package.json), recorded in every report. */
export const KIT_VERSION = KIT_PKG.version;

/** What the runner keeps of a plugin loaded by the daemon's loader. */
type LoadedInfo = Pick<LoadedPlugin, 'manifest' | 'apiVersion' | 'dir'>;

/** `plugins/foo` (a directory with a manifest, relative, without ./) is a path, not a package name. */
function specFor(given: string, cwd: string): string {
  return !given.startsWith('.') && !given.startsWith('/') && existsSync(join(cwd, given, 'rustynet-plugin.json'))
    ? resolve(cwd, given)
    : given;
}

/** Loads a plugin once with the daemon's own loader (as rustynetd does); throws its named error. */
async function loadOnce(spec: string, o: { cwd: string; options?: Record<string, unknown>; expectKind?: PluginKind }): Promise<LoadedInfo> {
  const tmp = mkdtempSync(join(tmpdir(), 'rnt-load-'));
  try {
    const { createHostServices, loadPlugin } = await import('@rustynet/daemon');
    const services = createHostServices({ stateDir: tmp, logLevel: 'silent', processMetrics: false });
    return await loadPlugin(spec, { services, ...o });
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

/**
 * Loads the policy suite's backend: from `cwd`, and a package name not found there from the kit's
 * directory (where the policy fixture resolves it too).
 */
async function loadPolicyBackend(spec: string, cwd: string): Promise<LoadedInfo> {
  try {
    return await loadOnce(spec, { cwd, expectKind: 'backend' });
  } catch (e) {
    if ((e as { code?: string }).code !== 'PLUGIN_NOT_FOUND' || spec.startsWith('.') || spec.startsWith('/')) throw e;
    return await loadOnce(spec, { cwd: KIT_DIR, expectKind: 'backend' }).catch(() => {
      throw e;
    });
  }
}

async function toolVersion(file: string, args: string[]): Promise<string | null> {
  const r = await execa(file, args, { reject: false, timeout: 5000, stdin: 'ignore' }).catch(() => null);
  if (!r || (r.exitCode !== 0 && !r.stdout && !r.stderr)) return null;
  const text: unknown = r.stdout || r.stderr;
  return ((typeof text === 'string' ? text : '').split('\n')[0] ?? '').trim() || null;
}

async function environment(): Promise<ConformanceReport['environment']> {
  const tools: Record<string, string | null> = {};
  const probes: [string, string, string[]][] = [
    ['iproute2', 'ip', ['-V']],
    ['nftables', 'nft', ['--version']],
    ['tcpdump', 'tcpdump', ['--version']],
    ['ping', 'ping', ['-V']],
    ['ss', 'ss', ['-V']],
  ];
  await Promise.all(probes.map(async ([k, f, a]) => void (tools[k] = await toolVersion(f, a))));
  return { node: process.version, platform: process.platform, arch: process.arch, kernel: release(), cpus: cpus().length, tools };
}

function failureOf(err: unknown): NonNullable<TestResult['failure']> {
  const e = err as ConformanceFailure & { name?: string };
  return {
    message: typeof e?.message === 'string' ? e.message : (JSON.stringify(err) ?? 'unknown error'),
    type: e?.name ?? 'Error',
    ...(e instanceof ConformanceFailure || (e && 'expected' in e) ? { expected: e.expected ?? null, actual: e.actual ?? null } : {}),
    ...(e?.step !== undefined && { step: e.step }),
    ...(e?.diagnostics ? { diagnostics: e.diagnostics } : {}),
  };
}

/** ISO 8601 in UTC without milliseconds (`2026-12-07T01:44:03Z`), the report's timestamp format. */
export function isoSeconds(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** `--list`: registers the suite with a throw-away mocha and prints its tests; runs nothing. */
function listOnly(
  factory: SuiteFactory,
  plugin: string,
  cwd: string,
  profile: string,
  seed: number,
  grep: RegExp | undefined,
  reporter: string,
  out: NodeJS.WritableStream,
  options: Record<string, unknown> | undefined,
): number {
  const mocha = new Mocha({ timeout: 0 });
  mocha.suite.emit(Mocha.Suite.constants.EVENT_FILE_PRE_REQUIRE, globalThis, 'rustynet-conformance', mocha);
  factory({ plugin, cwd, profile, seed, timeoutMultiplier: 1, ...(options && { options }) });
  mocha.suite.emit(Mocha.Suite.constants.EVENT_FILE_POST_REQUIRE, globalThis, 'rustynet-conformance', mocha);
  const tests = listTests(mocha.suite, grep);
  out.write(reporter === 'spec' ? listText(tests) : `${JSON.stringify({ tests }, null, 2)}\n`);
  try {
    mocha.dispose();
  } catch {
    /* nothing ran */
  }
  return tests.length > 0 ? EXIT_PASSED : EXIT_FAILED;
}

/**
 * Runs the conformance suite of the plugin's kind against a plugin, with real traffic between
 * network namespaces (needs root). Prints progress and a readable summary, writes the report.
 *
 * @returns the exit code: 0 when every test that ran passed (skips allowed, never counted as
 *   passes), 1 when any test failed (or no test matched `grep`), 2 when the plugin cannot be
 *   loaded (the loader's named error, e.g. `MANIFEST_INVALID`, is printed), a policy suite's
 *   backend cannot be loaded (same, prefixed `backend <spec>:`) or its kind has no suite.
 */
export async function runPluginTest(opts: RunPluginTestOptions): Promise<number> {
  const out = opts.stdout ?? process.stdout;
  const errOut = opts.stderr ?? process.stderr;
  const reporter = opts.reporter ?? 'spec';
  const cwd = resolve(opts.cwd ?? process.cwd());
  const seed = opts.seed ?? randomInt(1, 2 ** 31 - 1);
  const profile = opts.profile ?? 'full';
  const timeoutMultiplier = opts.timeoutMultiplier ?? 1;
  const progress = reporter === 'spec' || opts.output ? out : errOut;
  const fail = (e: RunError): number => {
    errOut.write(formatRunError(e, reporter === 'json'));
    return EXIT_LOAD_ERROR;
  };
  if (!(timeoutMultiplier > 0)) {
    return fail({ code: 'INVALID_INPUT', field: 'timeoutMultiplier', message: `timeoutMultiplier must be > 0 (got ${timeoutMultiplier})` });
  }
  if (!['spec', 'json', 'junit'].includes(reporter)) {
    return fail({ code: 'INVALID_INPUT', field: 'reporter', message: `reporter must be spec, json or junit (got ${reporter})` });
  }
  if (!(PROFILES as readonly string[]).includes(profile)) {
    return fail({ code: 'INVALID_INPUT', field: 'profile', message: `profile must be ${PROFILES.join(' or ')} (got ${profile})` });
  }
  if (opts.backend !== undefined && opts.backend.trim() === '') {
    return fail({ code: 'INVALID_INPUT', field: 'backend', message: 'backend must be a package name or a path (got an empty string)' });
  }
  let grep: RegExp | undefined;
  try {
    grep = opts.grep ? new RegExp(opts.grep) : undefined;
  } catch (e) {
    return fail({ code: 'INVALID_INPUT', field: 'grep', message: `grep is not a regular expression: ${(e as Error).message}` });
  }
  const startedAt = new Date();
  const spec = specFor(opts.plugin, cwd);
  const loadError = (e: unknown, what = ''): number => fail(runErrorOf(e, what));

  // 1. Load the plugin once here, exactly as rustynetd does, to fail fast with the loader's error.
  let loaded: LoadedInfo;
  try {
    loaded = await loadOnce(spec, { cwd, ...(opts.options && { options: opts.options }) });
  } catch (e) {
    return loadError(e);
  }
  const kind = loaded.manifest.kind;
  const factory = suiteFor(kind);
  if (!factory) {
    return fail({
      code: 'UNSUPPORTED',
      message: `the kit has no suite for plugin kind "${kind}" yet (suites: ${suiteKinds().join(', ')})`,
    });
  }
  // A policy suite runs on a real backend (flag, else env, else the reference backend): load it
  // here too, so a bad one fails fast the same way. Other kinds ignore it.
  const backendGiven =
    kind === 'policy' ? (opts.backend ?? (process.env['RUSTYNET_KIT_POLICY_BACKEND'] || DEFAULT_POLICY_BACKEND)) : undefined;
  const backendSpec = backendGiven === undefined ? undefined : specFor(backendGiven, cwd);
  if (backendSpec !== undefined) {
    try {
      await loadPolicyBackend(backendSpec, cwd);
    } catch (e) {
      return loadError(e, `backend ${backendGiven}: `);
    }
  }
  if (opts.list) return listOnly(factory, spec, cwd, profile, seed, grep, reporter, out, opts.options);
  // The suites build network namespaces: they need root and the network tools.
  if (typeof process.getuid === 'function' && process.getuid() !== 0) {
    return fail({ code: 'PERMISSION_DENIED', message: 'the conformance suites create network namespaces: run as root (sudo)' });
  }
  const env = await environment();
  const missing = Object.entries(env.tools)
    .filter(([, v]) => v === null)
    .map(([k]) => k);
  if (missing.length) {
    return fail({
      code: 'INTERNAL',
      message: `required tools missing: ${missing.join(', ')} (install iproute2, nftables, tcpdump, iputils-ping)`,
    });
  }
  const reestablish = kind === 'backend' ? declaredSessionReestablishSeconds(loaded.manifest.capabilities) : undefined;
  progress.write(
    `rustynet conformance ${KIT_VERSION}: ${loaded.manifest.name}@${loaded.manifest.version} (${kind}) profile=${profile} seed=${seed}${reestablish !== undefined ? ` ${sessionNote(reestablish)}` : ''}\n`,
  );

  // 2. Build the mocha run.
  const results: TestResult[] = [];
  const errors: ConformanceReport['errors'] = [];
  const mocha = new Mocha({ timeout: 0, ...(grep && { grep }), ...(opts.bail && { bail: true }) });
  mocha.suite.emit(Mocha.Suite.constants.EVENT_FILE_PRE_REQUIRE, globalThis, 'rustynet-conformance', mocha);
  // `backend` reaches the policy suite's options through the registry's spread of the settings.
  const settings: SuiteRunSettings = {
    plugin: spec,
    cwd,
    profile,
    seed,
    timeoutMultiplier,
    ...(opts.options && { options: opts.options }),
    ...(backendSpec !== undefined && { backend: backendSpec }),
    ...(opts.keepLogs !== undefined && { keepLogs: resolve(cwd, opts.keepLogs) }),
  };
  factory(settings);
  mocha.suite.emit(Mocha.Suite.constants.EVENT_FILE_POST_REQUIRE, globalThis, 'rustynet-conformance', mocha);

  const C = Mocha.Runner.constants;
  const idOf = (t: Mocha.Test): string => kitMeta(t).kitId ?? TEST_ID_PATTERN.exec(t.title)?.[1] ?? t.title;
  const titleOf = (t: Mocha.Test): string => t.title.replace(/^[^:]+:\s*/, '');
  const gateOf = (t: Mocha.Test): Pick<TestResult, 'gate' | 'measurements'> => {
    const g = kitMeta(t).kitGate;
    const m = kitMeasurements(t);
    return { ...(g && { gate: g }), ...(m && { measurements: m }) };
  };
  const measured = (t: Mocha.Test): string => {
    const m = kitMeasurements(t);
    return m
      ? ` [${Object.entries(m)
          .map(([k, v]) => `${k}=${v}`)
          .join(' ')}]`
      : '';
  };
  // Structurally a mocha reporter (the members of reporters.Base) without extending Base: Base's
  // constructor turns a failure's expected/actual into diff strings, which the report must not see.
  class KitReporter {
    readonly runner: Mocha.Runner;
    readonly stats: Mocha.Stats;
    readonly failures: Mocha.Test[] = [];
    /** The runner prints its own summary: nothing to add after the run. */
    epilogue(): void {}
    constructor(runner: Mocha.Runner) {
      this.runner = runner;
      this.stats = runner.stats ?? { suites: 0, tests: 0, passes: 0, pending: 0, failures: 0 };
      runner.on(C.EVENT_TEST_PASS, (t: Mocha.Test) => {
        results.push({ id: idOf(t), title: titleOf(t), status: 'passed', durationMs: t.duration ?? 0, ...gateOf(t) });
        progress.write(`  \u2714 ${idOf(t)} (${t.duration ?? 0} ms)${measured(t)}\n`);
      });
      runner.on(C.EVENT_TEST_PENDING, (t: Mocha.Test) => {
        const reason = kitMeta(t).kitSkipReason ?? 'skipped';
        results.push({ id: idOf(t), title: titleOf(t), status: 'skipped', durationMs: 0, skipReason: reason, ...gateOf(t) });
        progress.write(`  - ${idOf(t)} SKIPPED: ${reason}\n`);
      });
      runner.on(C.EVENT_TEST_FAIL, (t: Mocha.Test | Mocha.Hook, err: unknown) => {
        if (t.type === 'hook') {
          errors.push({ message: `${t.fullTitle()}: ${(err as Error)?.message ?? String(err)}` });
          progress.write(`  \u2716 ${t.title}\n`);
          return;
        }
        const f = failureOf(err);
        results.push({
          id: idOf(t),
          title: titleOf(t),
          status: 'failed',
          durationMs: t.duration ?? 0,
          failure: f,
          ...gateOf(t),
        });
        progress.write(`  \u2716 ${idOf(t)} (${t.duration ?? 0} ms): ${f.message.split('\n')[0]}\n`);
      });
    }
  }
  mocha.reporter(KitReporter);
  await new Promise<void>((res) => mocha.run(() => res()));
  try {
    mocha.dispose();
  } catch {
    /* already disposed */
  }

  // 3. Report.
  const finishedAt = new Date();
  const summary = {
    total: results.length,
    passed: results.filter((r) => r.status === 'passed').length,
    failed: results.filter((r) => r.status === 'failed').length,
    skipped: results.filter((r) => r.status === 'skipped').length,
  };
  if (results.length === 0) errors.push({ message: `no test matched${opts.grep ? ` --grep ${opts.grep}` : ''}`, code: 'INVALID_INPUT' });
  const report: ConformanceReport = {
    $schema: REPORT_SCHEMA_ID,
    reportVersion: 1,
    kit: { name: KIT_NAME, version: KIT_VERSION },
    apiVersion: API_VERSION,
    negotiatedApiVersion: loaded.apiVersion,
    plugin: { spec: opts.plugin, name: loaded.manifest.name, version: loaded.manifest.version, kind },
    manifest: loaded.manifest,
    profile,
    seed,
    timeoutMultiplier,
    grep: opts.grep ?? null,
    ...(backendGiven !== undefined && { backend: backendGiven }),
    ...(reestablish !== undefined && { sessionReestablishSeconds: reestablish }),
    environment: env,
    startedAt: isoSeconds(startedAt),
    finishedAt: isoSeconds(finishedAt),
    durationMs: finishedAt.getTime() - startedAt.getTime(),
    summary,
    result: errors.length ? 'error' : summary.failed ? 'failed' : 'passed',
    tests: results,
    errors,
  };
  const machine = reporter === 'junit' ? toJUnit(report) : JSON.stringify(report, null, 2) + '\n';
  if (opts.output) await writeFile(opts.output, reporter === 'spec' ? JSON.stringify(report, null, 2) + '\n' : machine);
  else if (reporter !== 'spec') out.write(machine);
  progress.write(summaryText(report));
  return report.result === 'passed' ? EXIT_PASSED : EXIT_FAILED;
}
