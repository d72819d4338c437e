/**
 * Waits for `p` to settle (resolve or reject), at most `ms` milliseconds; never throws. An
 * undefined `p` returns at once. Used by `Daemon.stop` to bound each drain step.
 */
export async function settleWithin(p: Promise<unknown> | undefined, ms: number): Promise<void> {
  if (!p) return;
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([p.catch(() => undefined), new Promise<void>((r) => (timer = setTimeout(r, ms)))]);
  clearTimeout(timer);
}
