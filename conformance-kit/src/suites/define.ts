import type { Context } from 'mocha';
import { SESSION_REESTABLISH_MAX_SECONDS } from '@rustynet/plugin-api';
import { ConformanceFailure, ConformanceSkip, ConformanceTimeoutError } from './errors.js';
import { StepContext } from './step-context.js';

/** One conformance test of a suite. */
export interface KitTest<F> {
  /** Stable id `<kind>.<area>.<name>`; never changes meaning. */
  id: string;
  /** One sentence: what the test asserts. */
  title: string;
  /** Capability that gates the test, for docs and reports (e.g. `roaming`, `!roaming`). */
  gate?: string;
  /**
   * Capabilities (besides a positive {@link gate}) whose false claim makes this test fail,
   * e.g. `ipv6` for a test that pings over IPv6 when it is claimed. The self-test requires every
   * capability of the manifest schema to be covered by a gate or here.
   */
  covers?: readonly string[];
  /** Base deadline in ms (multiplied by the timeout multiplier). Default 20 000. */
  deadlineMs?: number;
  /**
   * How many times the test waits for a peer's session to be re-established (the peer's tunnel
   * restarted, the peer was re-added or re-keyed). Each adds the plugin's declared bound
   * (`FixtureBase.sessionWaitMs`) to the deadline; nothing when it declares none. Only
   * tests whose point is a new session set it: never isolation, spoofing, secrets or bad input.
   */
  sessionWaits?: number;
  /** Returns a skip reason when the plugin does not claim what the test needs. */
  skipIf?: (fixture: F) => string | undefined | Promise<string | undefined>;
  /**
   * The kit's own preparation (key pairs, helper namespaces): runs after {@link skipIf}, outside
   * the deadline, bounded by {@link prepareMs}. A plugin is never timed on what the kit does.
   */
  prepare?: (fixture: F) => Promise<void>;
  /** Bound of {@link prepare} in ms (multiplied by the timeout multiplier). Default 120 000. */
  prepareMs?: number;
  /** The test body: runs the test's steps against the fixture; throws a `ConformanceFailure` on a violation. */
  run: (t: StepContext, fixture: F) => Promise<void>;
}

/** Pattern of a test id inside a mocha test title. */
export const TEST_ID_PATTERN = /^([a-z]+\.[a-z0-9-]+\.[a-z0-9-]+)\b/;

/** Properties the kit attaches to mocha Test objects for its reporter. */
export interface KitTestMeta {
  kitId?: string;
  kitSkipReason?: string;
  kitGate?: string;
}

const META_KEYS = ['kitId', 'kitSkipReason', 'kitGate'] as const;

/** Attaches kit metadata to a mocha test (as own properties, read back by {@link kitMeta}). */
export function setKitMeta(test: Mocha.Runnable, meta: KitTestMeta): void {
  Object.assign(test, meta);
}

/** The kit metadata attached to a mocha test by {@link setKitMeta} (empty for other tests). */
export function kitMeta(test: Mocha.Runnable): KitTestMeta {
  const meta: KitTestMeta = {};
  for (const k of META_KEYS) {
    const v: unknown = Reflect.get(test, k);
    if (typeof v === 'string') meta[k] = v;
  }
  return meta;
}

/** Measurements a test recorded (`StepContext.measure`), attached to its mocha test. */
export function kitMeasurements(test: Mocha.Runnable): Record<string, number | string> | undefined {
  const v: unknown = Reflect.get(test, 'kitMeasurements');
  if (typeof v !== 'object' || v === null) return undefined;
  const out: Record<string, number | string> = {};
  for (const [k, x] of Object.entries(v)) if (typeof x === 'number' || typeof x === 'string') out[k] = x;
  return Object.keys(out).length ? out : undefined;
}

/** Minimal fixture surface the registration needs. */
export interface FixtureBase {
  ready(): Promise<void>;
  ms(base: number): number;
  dirty: boolean;
  diagnostics(): Promise<string>;
  /** After each test: what it left behind (passed tests), keyed by host; see `SuiteFixture.afterTest`. */
  afterTest?(passed: boolean): Promise<Record<string, Record<string, string[]>>>;
  /** After each test, with `--keep-logs`: writes the plugin hosts' logs of that test. */
  keepLogs?(testId: string): Promise<void>;
  /**
   * The plugin's declared session re-establishment bound in ms, not multiplied (backend
   * `sessionReestablishSeconds`); 0 when it declares none. Valid after {@link ready}.
   */
  sessionWaitMs?(): number;
  /**
   * The kit's own preparation before each test's deadline starts (e.g. rebuilding a changed mesh
   * and waiting for its sessions when the plugin declares a re-establishment bound). Never an
   * assertion: a failure here shows in the test's own steps. Resolves true when it did something
   * (the test then records the time as measurement `kitSettleMs`).
   */
  settle?(): Promise<boolean>;
}

function withDeadline<T>(p: Promise<T>, ms: number, onTimeout: () => Error): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(onTimeout()), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

/** What {@link registerTests} needs of mocha's `it`. */
export type ItFunction = (title: string, fn: (this: Context) => Promise<void>) => Mocha.Test;

/**
 * Registers `tests` with mocha's `it` (which must be the BDD interface's global or given).
 * Each test: capability skip with reason (reported SKIPPED, never passed), a named deadline,
 * failures enriched with the failing step, expected vs. actual and the plugin diagnostics.
 */
export function registerTests<F extends FixtureBase>(tests: KitTest<F>[], fixture: F, it: ItFunction = globalThis.it): void {
  for (const spec of tests) {
    const waits = spec.sessionWaits ?? 0;
    const deadline = (): number => fixture.ms((spec.deadlineMs ?? 20_000) + waits * (fixture.sessionWaitMs?.() ?? 0));
    const prepareMs = (): number => fixture.ms(spec.prepareMs ?? 120_000);
    // before ready() the declared bound is unknown: mocha's timeout allows the largest one
    const mochaMs = (): number =>
      fixture.ms((spec.deadlineMs ?? 20_000) + (waits + 1) * SESSION_REESTABLISH_MAX_SECONDS * 1000) +
      (spec.prepare ? prepareMs() : 0) +
      180_000;
    const test = it(`${spec.id}: ${spec.title}`, async function (this: Context) {
      // the network is built once, on the first test; mocha's own timeout covers it too
      this.timeout(mochaMs());
      const t = new StepContext(spec.id);
      if (this.test) Object.assign(this.test, { kitMeasurements: t.measurements });
      let passed = false;
      try {
        t.begin('kit: set up the test network and plugin hosts (outside the deadline)');
        await fixture.ready();
        if (spec.skipIf) {
          const reason = await spec.skipIf(fixture);
          if (reason) {
            if (this.test) setKitMeta(this.test, { kitSkipReason: reason });
            this.skip();
          }
        }
        if (spec.prepare) {
          t.begin('kit: prepare the test (outside the deadline)');
          await withDeadline(spec.prepare(fixture), prepareMs(), () => new Error(`the kit's preparation took over ${prepareMs()} ms`));
        }
        if (fixture.settle) {
          t.begin('kit: settle the test network (outside the deadline)');
          const s0 = Date.now();
          if (await fixture.settle()) t.measure('kitSettleMs', Date.now() - s0);
        }
        t.begin('prepare: start the instances and apply the baseline peers and routes');
        await withDeadline(spec.run(t, fixture), deadline(), () => new ConformanceTimeoutError(spec.id, deadline(), t.step, t.timings()));
        passed = true;
        await fixture.keepLogs?.(spec.id).catch(() => undefined);
        if (fixture.afterTest) {
          t.begin('residue: compare each namespace the test stopped the plugin in with its snapshot from before the start');
          const left = await fixture.afterTest(true);
          t.check(
            Object.keys(left).length === 0,
            'the plugin left resources behind after the test stopped it',
            'nothing new since before the start, in every namespace where no instance runs any more',
            left,
          );
        }
      } catch (err) {
        if (!passed) {
          await fixture.afterTest?.(false).catch(() => undefined);
          await fixture.keepLogs?.(spec.id).catch(() => undefined);
        }
        if (err instanceof ConformanceSkip) {
          if (this.test) setKitMeta(this.test, { kitSkipReason: err.message });
          this.skip();
        }
        if (err && (err as { constructor?: { name?: string } }).constructor?.name === 'Pending') throw err;
        fixture.dirty = true;
        const f =
          err instanceof ConformanceFailure
            ? err
            : new ConformanceFailure(`unexpected error: ${(err as Error)?.message ?? String(err)}`, {
                expected: 'no error',
                actual: { name: (err as Error)?.name, code: (err as { code?: unknown })?.code, message: (err as Error)?.message },
                ...(t.step !== undefined && { step: t.step }),
              });
        if (f.step === undefined && t.step !== undefined) f.step = t.step;
        const diag = await withDeadline(fixture.diagnostics(), 5000, () => new Error('diagnostics timed out')).catch((e: unknown) =>
          e instanceof Error ? e.message : String(e),
        );
        f.diagnostics = diag;
        f.message = [
          `${spec.id} failed at step "${f.step ?? '?'}": ${f.message}`,
          ...(f.expected !== undefined ? [`  expected: ${fmt(f.expected)}`] : []),
          ...(f.actual !== undefined ? [`  actual:   ${fmt(f.actual)}`] : []),
          ...(diag ? [diag] : []),
        ].join('\n');
        throw f;
      }
    });
    setKitMeta(test, { kitId: spec.id, ...(spec.gate !== undefined && { kitGate: spec.gate }) });
  }
}

function fmt(v: unknown): string {
  if (typeof v === 'string') return v;
  try {
    return JSON.stringify(v);
  } catch {
    return String(v);
  }
}
