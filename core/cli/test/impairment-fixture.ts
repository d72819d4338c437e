/**
 * What the impairment integration suites share: reading the relay server's and the daemons'
 * Prometheus counters, and a status sampler that records every node's reported path for a peer.
 */
import { randomBytes } from 'node:crypto';
import { Mesh, RUSTYNET_BIN, runNodeProgram } from '@rustynet/testbed';

/** Where `rustynet relay serve` serves its metrics, inside the relay host's namespace. */
export const RELAY_METRICS = '127.0.0.1:9470';

/** A per-run namespace prefix `imp-<hex>` (the brief's naming rule). */
export function impPrefix(): string {
  return `imp-${randomBytes(2).toString('hex')}`;
}

/** Sum of the samples of family `name` whose label text contains every `labels` entry. */
export function promValue(text: string, name: string, labels: string[] = []): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][\w:]*)(\{[^}]*\})?\s+(\S+)/.exec(line);
    if (!m || m[1] !== name) continue;
    if (labels.every((l) => (m[2] ?? '').includes(l))) sum += Number(m[3]);
  }
  return sum;
}

/** The relay server's `/metrics` text (curl inside its namespace). @throws when it does not answer. */
export async function relayMetrics(mesh: Mesh): Promise<string> {
  const r = await mesh.relayHost!.exec('curl', ['-sf', '--max-time', '5', `http://${RELAY_METRICS}/metrics`]);
  return r.stdout;
}

/** Node `id`'s daemon metrics (`rustynet metrics`). @throws with its error output. */
export async function daemonMetrics(mesh: Mesh, id: string): Promise<string> {
  const r = await runNodeProgram(RUSTYNET_BIN, ['metrics', '--socket', mesh.node(id).socket]);
  if (r.code !== 0) throw new Error(`rustynet metrics (${id}) exited ${r.code}: ${r.stderr}`);
  return r.stdout;
}

/** One status sample: when, and the path each `[node, peer]` pair reported (`error` when the status failed). */
export interface PathSample {
  t: number;
  paths: Record<string, string>;
  endpoints: Record<string, string | null>;
}

/** Polls the status of every pair every `pollMs` until stopped; keeps every sample. */
export class PathSampler {
  readonly samples: PathSample[] = [];
  private running = true;
  private readonly done: Promise<void>;

  constructor(
    private readonly mesh: Mesh,
    private readonly pairs: Array<[string, string]>,
    pollMs = 100,
  ) {
    this.done = (async () => {
      while (this.running) {
        const t = Date.now();
        const paths: Record<string, string> = {};
        const endpoints: Record<string, string | null> = {};
        await Promise.all(
          this.pairs.map(async ([x, y]) => {
            try {
              const p = (await this.mesh.status(x)).peers.find((q) => q.id === y);
              paths[`${x}->${y}`] = p?.path ?? 'missing';
              endpoints[`${x}->${y}`] = p?.endpoint ?? null;
            } catch {
              paths[`${x}->${y}`] = 'error';
            }
          }),
        );
        this.samples.push({ t, paths, endpoints });
        await new Promise((r) => setTimeout(r, pollMs));
      }
    })();
  }

  /** Samples taken in `[from, to)`. */
  between(from: number, to = Infinity): PathSample[] {
    return this.samples.filter((s) => s.t >= from && s.t < to);
  }

  /** Stops polling and waits for the last poll. */
  async stop(): Promise<void> {
    this.running = false;
    await this.done;
  }
}

/**
 * Splits `[from, to)` into buckets of `bucketMs` and returns those without a reply time in them
 * (as `start-end` offsets from `from`, ms).
 */
export function silentBuckets(replies: readonly number[], from: number, to: number, bucketMs: number): string[] {
  const out: string[] = [];
  for (let s = from; s + bucketMs <= to; s += bucketMs) {
    if (!replies.some((t) => t >= s && t < s + bucketMs)) out.push(`${s - from}-${s - from + bucketMs}`);
  }
  return out;
}
