import { ConformanceFailure, ConformanceSkip } from './errors.js';

function fmt(v: unknown): string {
  if (typeof v === 'string') return v;
  try {
    return JSON.stringify(v);
  } catch {
    return String(v);
  }
}

/** Code, field and message of an error thrown by a plugin. */
export interface ErrorShape {
  code?: string;
  field?: string;
  message: string;
}

function shape(err: unknown): ErrorShape {
  const e = err as { code?: unknown; field?: unknown; message?: unknown; name?: unknown };
  return {
    ...(typeof e?.code === 'string' && { code: e.code }),
    ...(typeof e?.field === 'string' && { field: e.field }),
    message: typeof e?.message === 'string' ? e.message : String(err),
  };
}

/** One step of a test and how long it ran (the last one up to now while it still runs). */
export interface StepTiming {
  step: string;
  ms: number;
}

/**
 * Per-test helper: tracks the current step (with the duration of every step) and builds
 * {@link ConformanceFailure}s with expected and actual values.
 */
export class StepContext {
  /** Name of the step running now. */
  step: string | undefined;
  /** Names of the steps begun so far, in order. */
  readonly steps: string[] = [];
  /** Measurements the test reports whether it passes or not (e.g. CPU share under a flood). */
  readonly measurements: Record<string, number | string> = {};
  private readonly startedAt: number[] = [];
  /**
   * @param testId - the test's stable id.
   * @param now - clock in ms (tests inject one).
   */
  constructor(
    readonly testId: string,
    private readonly now: () => number = Date.now,
  ) {}

  /** Enters a named step (shown in failure reports); the previous step ends here. */
  begin(step: string): void {
    this.step = step;
    this.steps.push(step);
    this.startedAt.push(this.now());
  }

  /** Records a measurement for the report (`tests[].measurements`) and the progress line. */
  measure(name: string, value: number | string): void {
    this.measurements[name] = value;
  }

  /** Every step so far with its duration in ms; the running step counts up to now. */
  timings(): StepTiming[] {
    const end = this.now();
    return this.steps.map((step, i) => ({ step, ms: (this.startedAt[i + 1] ?? end) - (this.startedAt[i] ?? end) }));
  }

  /** Ends the test as SKIPPED with `reason` (never a pass): what it needs turned out to be absent. */
  skip(reason: string): never {
    throw new ConformanceSkip(reason);
  }

  /** Throws a failure at the current step. */
  fail(message: string, expected?: unknown, actual?: unknown): never {
    throw new ConformanceFailure(message, { expected, actual, ...(this.step !== undefined && { step: this.step }) });
  }

  /** Asserts `cond`, failing with `message`, `expected` and `actual` otherwise. */
  check(cond: unknown, message: string, expected?: unknown, actual?: unknown): void {
    if (!cond) this.fail(message, expected, actual);
  }

  /** Returns `v` when it is neither null nor undefined, fails otherwise. */
  need<V>(v: V | null | undefined, message: string, expected?: unknown, actual?: unknown): V {
    if (v === null || v === undefined) this.fail(message, expected, actual);
    return v;
  }

  /** Asserts deep equality (JSON comparison, key order ignored for plain objects). */
  equal(actual: unknown, expected: unknown, message: string): void {
    const norm = (v: unknown): string =>
      JSON.stringify(v, (_k, x: unknown) =>
        x && typeof x === 'object' && !Array.isArray(x)
          ? Object.fromEntries(Object.entries(x as Record<string, unknown>).sort(([a], [b]) => a.localeCompare(b)))
          : x,
      );
    if (norm(actual) !== norm(expected)) this.fail(message, expected, actual);
  }

  /** Runs a promise that must resolve; a rejection becomes a failure naming the step. */
  async ok<T>(what: string, p: Promise<T>): Promise<T> {
    try {
      return await p;
    } catch (err) {
      const s = shape(err);
      this.fail(`${what} failed: ${s.code ? `${s.code}: ` : ''}${s.message}`, `${what} succeeds`, s);
    }
  }

  /**
   * Asserts that `p` rejects with error code `code` (one of `code` when an array) and, when
   * `field` is given, with that `field` (a RegExp matches it).
   * @returns the error's shape.
   */
  async rejects(what: string, p: Promise<unknown>, code: string | string[], field?: string | RegExp): Promise<ErrorShape> {
    const codes = Array.isArray(code) ? code : [code];
    const want = `${what} rejects with ${codes.join(' or ')}${field !== undefined ? ` (field ${String(field)})` : ''}`;
    let err: unknown;
    try {
      const v = await p;
      this.fail(`${what} should have failed with ${codes.join(' or ')} but succeeded`, want, { resolved: v ?? null });
    } catch (e) {
      if (e instanceof ConformanceFailure) throw e;
      err = e;
    }
    const s = shape(err);
    if (!s.code || !codes.includes(s.code)) this.fail(`${what} failed with the wrong error`, want, s);
    if (field !== undefined) {
      const okField = typeof field === 'string' ? s.field === field : s.field !== undefined && field.test(s.field);
      if (!okField) this.fail(`${what} failed with ${s.code} but named the wrong field`, want, s);
    }
    return s;
  }
}

export { fmt as formatValue };
