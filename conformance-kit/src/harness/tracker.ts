import { spawnSync } from 'node:child_process';

/** One resource recorded by a {@link ResourceTracker}. */
export interface TrackedResource {
  /** Resource kind, e.g. `netns`, `process`, `file`. */
  readonly kind: string;
  /** Human name used in error reports. */
  readonly name: string;
}

interface Entry extends TrackedResource {
  remove: () => void;
  done: boolean;
}

const live = new Set<ResourceTracker>();
let hooksInstalled = false;

function cleanupAllSync(): void {
  for (const t of [...live].reverse()) t.cleanupSync();
}

function installProcessHooks(): void {
  if (hooksInstalled) return;
  hooksInstalled = true;
  process.on('exit', cleanupAllSync);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    const handler = (): void => {
      cleanupAllSync();
      // If nobody else handles the signal, behave like the default action (exit 128 + n).
      if (process.listenerCount(sig) <= 1) process.exit(sig === 'SIGINT' ? 130 : sig === 'SIGTERM' ? 143 : 129);
    };
    process.on(sig, handler);
  }
}

/**
 * Records every resource a test creates and removes them in reverse order (csi-sanity style
 * resource tracker). Removal is synchronous so that it also runs from `process.on('exit')`
 * and on SIGINT/SIGTERM/SIGHUP; each removal runs at most once and never throws.
 */
export class ResourceTracker {
  private readonly entries: Entry[] = [];
  /** Errors met while cleaning up (removal continues after an error). */
  readonly errors: Error[] = [];

  constructor() {
    installProcessHooks();
    live.add(this);
  }

  /**
   * Records a resource and the synchronous function that removes it.
   * @returns a function that removes the resource now (idempotent).
   */
  track(kind: string, name: string, remove: () => void): () => void {
    const entry: Entry = { kind, name, remove, done: false };
    this.entries.push(entry);
    return () => this.runEntry(entry);
  }

  /** Resources recorded and not yet removed, oldest first. */
  get resources(): TrackedResource[] {
    return this.entries.filter((e) => !e.done).map(({ kind, name }) => ({ kind, name }));
  }

  private runEntry(e: Entry): void {
    if (e.done) return;
    e.done = true;
    try {
      e.remove();
    } catch (err) {
      this.errors.push(new Error(`cleanup of ${e.kind} ${e.name} failed: ${(err as Error).message}`));
    }
  }

  /** Removes everything still recorded, newest first. Idempotent. */
  cleanupSync(): void {
    for (let i = this.entries.length - 1; i >= 0; i--) this.runEntry(this.entries[i]);
    this.entries.length = 0;
    live.delete(this);
  }
}

/** Runs a command synchronously, ignoring failure; returns stdout. Used by cleanups. */
export function runSyncQuiet(file: string, args: string[], input?: string): { stdout: string; status: number | null } {
  const r = spawnSync(file, args, { encoding: 'utf8', input, stdio: ['pipe', 'pipe', 'pipe'], timeout: 10_000 });
  return { stdout: r.stdout ?? '', status: r.status };
}
