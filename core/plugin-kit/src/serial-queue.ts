/**
 * A serial queue: tasks run one at a time, in the order they were queued. A plugin uses one so
 * that concurrent calls from its host never interleave (each sees the state the previous one
 * left).
 */

/**
 * Runs async tasks one at a time, in call order. A task that rejects does not stop the queue: its
 * caller gets the rejection and the next task runs.
 *
 * ```ts
 * const queue = new SerialQueue();
 * await Promise.all([queue.run(a), queue.run(b)]); // b starts after a settles
 * ```
 */
export class SerialQueue {
  private tail: Promise<unknown> = Promise.resolve();
  private pendingCount = 0;

  /**
   * Queues `task` and resolves or rejects as it does. `task` starts after every task queued
   * before it has settled.
   */
  run<T>(task: () => Promise<T> | T): Promise<T> {
    this.pendingCount++;
    const start = (): Promise<T> => Promise.resolve().then(task);
    const run = this.tail.then(start, start).finally(() => {
      this.pendingCount--;
    });
    this.tail = run.catch(() => undefined);
    return run;
  }

  /** Number of tasks queued or running. */
  get size(): number {
    return this.pendingCount;
  }

  /** Resolves once every task queued so far has settled (never rejects). */
  async idle(): Promise<void> {
    await this.tail;
  }
}
