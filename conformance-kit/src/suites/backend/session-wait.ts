/** Outcome of {@link waitForSession}. */
export interface SessionWaitResult {
  /** Whether a ping got a reply before the bound ran out. */
  reply: boolean;
  /** Time from the first attempt to the reply (or to giving up), in milliseconds. */
  waitedMs: number;
  /** Pings sent. */
  attempts: number;
}

/** How {@link waitForSession} pings and waits. */
export interface SessionWaitOptions {
  /** Attempts made whatever the bound (the kit's default: 3, or 5 after a restart). */
  minAttempts: number;
  /**
   * After {@link minAttempts}, keep trying until this many ms have passed since the first
   * attempt (the plugin's declared `sessionReestablishSeconds`, multiplied); 0: no more.
   */
  boundMs: number;
  /** Shortest time between the starts of two attempts, in ms (a ping that fails at once). Default 1000. */
  spacingMs?: number;
  /** Clock, in ms (tests inject one). Default `Date.now`. */
  now?: () => number;
  /** Sleep (tests inject one). Default a timer. */
  sleep?: (ms: number) => Promise<void>;
}

/**
 * Pings (one attempt per call of `ping`) until a reply: at least `minAttempts` times, then on
 * until `boundMs` has passed since the first attempt. A reply after the bound is never waited
 * for, so a backend slower than its declared bound fails.
 */
export async function waitForSession(ping: () => Promise<boolean>, opts: SessionWaitOptions): Promise<SessionWaitResult> {
  const now = opts.now ?? Date.now;
  const sleep = opts.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const spacing = opts.spacingMs ?? 1000;
  const t0 = now();
  let attempts = 0;
  for (;;) {
    const started = now();
    attempts++;
    if (await ping()) return { reply: true, waitedMs: now() - t0, attempts };
    if (attempts >= opts.minAttempts && now() - t0 >= opts.boundMs) return { reply: false, waitedMs: now() - t0, attempts };
    const rest = spacing - (now() - started);
    if (rest > 0) await sleep(rest);
  }
}
