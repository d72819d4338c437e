import { expect } from 'chai';
import { scheduleMemoryTrim, TRIM_AFTER_PEER_CHANGES } from '../src/local/memory-trim.js';

/** Waits for the trim's turn of the event loop (it runs in `setImmediate`). */
const nextTurn = (): Promise<void> => new Promise((r) => setImmediate(() => setImmediate(r)));

describe('memory trim after a large apply', () => {
  it('collects the garbage of a large apply without exposing gc', async () => {
    const holder: { garbage?: Array<{ i: number; s: string }> } = { garbage: [] };
    for (let i = 0; i < 400_000; i++) holder.garbage?.push({ i, s: `peer-${i}` });
    const live = holder.garbage?.length;
    const before = process.memoryUsage().heapUsed; // while it is still referenced
    delete holder.garbage;
    scheduleMemoryTrim(TRIM_AFTER_PEER_CHANGES - 1); // below the threshold: nothing scheduled
    scheduleMemoryTrim(TRIM_AFTER_PEER_CHANGES);
    await nextTurn();
    const after = process.memoryUsage().heapUsed;
    expect(live).to.equal(400_000);
    expect(after, `heap ${before} -> ${after} bytes`).to.be.below(before - 10 * 1024 * 1024);
    expect((globalThis as { gc?: unknown }).gc).to.equal(undefined);
  });
});
