/**
 * Gives memory back after a large apply. A full netmap of a thousand peers passes through the
 * daemon as JSON text, parsed objects, canonical bytes, a desired state, a plan and the backend's
 * command arguments; all of it is garbage once the apply is recorded, but V8 keeps the heap pages it
 * grew into until a full collection happens to run, which on an idle daemon can take minutes.
 * {@link scheduleMemoryTrim} runs one full collection right after such an apply (off the apply's
 * path: after its answer), so the resident set returns to the live data.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/** Peers upserted plus removed from which an apply counts as large (a trim follows it). */
export const TRIM_AFTER_PEER_CHANGES = 128;

let collect: (() => void) | null | undefined;

/**
 * V8's full collection (`gc`), obtained once: node exposes it only with `--expose-gc`; the flag
 * is set for a fresh context, whose `gc` then collects this isolate (as `node --expose-gc` does).
 * Null when the runtime refuses (the trim is then skipped).
 */
function fullCollection(): (() => void) | null {
  if (collect !== undefined) return collect;
  const existing = (globalThis as { gc?: () => void }).gc;
  if (typeof existing === 'function') return (collect = existing);
  try {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as unknown;
    collect = typeof gc === 'function' ? (gc as () => void) : null;
  } catch {
    collect = null;
  }
  return collect;
}

let pending: NodeJS.Immediate | undefined;

/**
 * After an apply that changed at least {@link TRIM_AFTER_PEER_CHANGES} peers, runs one full
 * garbage collection on the next turn of the event loop (coalesced: several large applies in a
 * row trigger one). Never throws.
 * @param peerChanges peers upserted plus removed by the apply.
 */
export function scheduleMemoryTrim(peerChanges: number): void {
  if (peerChanges < TRIM_AFTER_PEER_CHANGES || pending) return;
  pending = setImmediate(() => {
    pending = undefined;
    try {
      fullCollection()?.();
    } catch {
      /* a failed collection changes nothing */
    }
  });
  pending.unref();
}
