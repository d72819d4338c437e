/**
 * Errors raised by conformance tests. Reports read `expected`, `actual` and `step`.
 */

/** A conformance assertion that did not hold (ESLint RuleTester style: expected vs. actual). */
export class ConformanceFailure extends Error {
  /** Always `ConformanceFailure`. */
  override readonly name: string = 'ConformanceFailure';
  /** What the contract requires, in words or as a value. */
  readonly expected: unknown;
  /** What the plugin did. */
  readonly actual: unknown;
  /** The step of the test that failed. */
  step?: string;
  /** Diagnostics appended by the suite (plugin output, hook timeline). */
  diagnostics?: string;
  constructor(message: string, opts: { expected?: unknown; actual?: unknown; step?: string } = {}) {
    super(message);
    this.expected = opts.expected;
    this.actual = opts.actual;
    if (opts.step !== undefined) this.step = opts.step;
  }
}

/** A step of a test and its duration in ms (see `StepContext.timings`). */
export interface StepDuration {
  step: string;
  ms: number;
}

/**
 * A conformance test passed its deadline (libp2p interface-compliance style named timeout). The
 * message names the step it was stuck at and lists every step's duration so far, so an author
 * sees where the time went (the kit's own preparation runs outside the deadline).
 */
export class ConformanceTimeoutError extends ConformanceFailure {
  /** Always `ConformanceTimeoutError`. */
  override readonly name = 'ConformanceTimeoutError';
  constructor(
    /** Id of the test whose deadline passed. */
    readonly testId: string,
    /** The deadline that passed, in milliseconds (after the multiplier). */
    readonly deadlineMs: number,
    step: string | undefined,
    /** Every step of the test so far, with its duration. */
    readonly timings: readonly StepDuration[] = [],
  ) {
    super(
      [
        `${testId} did not finish within its ${deadlineMs} ms deadline${step ? ` (stuck at step "${step}")` : ''}`,
        ...(timings.length > 0 ? ['step durations so far:', ...timings.map((s) => `  ${String(s.ms).padStart(7)} ms  ${s.step}`)] : []),
      ].join('\n'),
      {
        expected: `finish within ${deadlineMs} ms`,
        actual: timings.length > 0 ? { stillRunning: step ?? null, steps: timings } : 'still running',
        ...(step !== undefined && { step }),
      },
    );
  }
}

/** Thrown by `StepContext.skip`: the test found at run time that it does not apply (reported SKIPPED with the reason). */
export class ConformanceSkip extends Error {
  override readonly name = 'ConformanceSkip';
}
