import type { Context } from 'mocha';
import { ConformanceFailure, ConformanceTimeoutError } from './errors.js';
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
  /** Returns a skip reason when the plugin does not claim what the test needs. */
  skipIf?: (fixture: F) => string | undefined | Promise<string | undefined>;
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

/** Minimal fixture surface the registration needs. */
export interface FixtureBase {
  ready(): Promise<void>;
  ms(base: number): number;
  dirty: boolean;
  diagnostics(): Promise<string>;
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

/**
 * Registers `tests` with mocha's `it` (which must be the BDD interface's global or given).
 * Each test: capability skip with reason (reported SKIPPED, never passed), a named deadline,
 * failures enriched with the failing step, expected vs. actual and the plugin diagnostics.
 */
export function registerTests<F extends FixtureBase>(tests: KitTest<F>[], fixture: F, it: Mocha.TestFunction = globalThis.it): void {
  for (const spec of tests) {
    const deadline = (): number => fixture.ms(spec.deadlineMs ?? 20_000);
    const test = it(`${spec.id}: ${spec.title}`, async function (this: Context) {
      this.timeout(deadline() + 15_000);
      const t = new StepContext(spec.id);
      try {
        t.begin('set up the test network and plugin');
        await fixture.ready();
        if (spec.skipIf) {
          const reason = await spec.skipIf(fixture);
          if (reason) {
            if (this.test) setKitMeta(this.test, { kitSkipReason: reason });
            this.skip();
          }
        }
        t.begin('prepare: start the instances and apply the baseline peers and routes');
        await withDeadline(spec.run(t, fixture), deadline(), () => new ConformanceTimeoutError(spec.id, deadline(), t.step));
      } catch (err) {
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
        const diag = await withDeadline(fixture.diagnostics(), 5000, () => new Error('diagnostics timed out')).catch(
          (e: Error) => e.message,
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
