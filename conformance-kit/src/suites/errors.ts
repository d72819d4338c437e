/**
 * Errors raised by conformance tests. Reports read `expected`, `actual` and `step`.
 */

/** A conformance assertion that did not hold (ESLint RuleTester style: expected vs. actual). */
export class ConformanceFailure extends Error {
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

/** A conformance test passed its deadline (libp2p interface-compliance style named timeout). */
export class ConformanceTimeoutError extends ConformanceFailure {
  override readonly name = 'ConformanceTimeoutError';
  constructor(
    readonly testId: string,
    readonly deadlineMs: number,
    step: string | undefined,
  ) {
    super(`${testId} did not finish within its ${deadlineMs} ms deadline${step ? ` (stuck at step "${step}")` : ''}`, {
      expected: `finish within ${deadlineMs} ms`,
      actual: 'still running',
      ...(step !== undefined && { step }),
    });
  }
}
