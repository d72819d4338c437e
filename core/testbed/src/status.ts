/**
 * Waiting on the daemons' own view of the mesh: polling each node's status (local API) until a
 * condition holds, failing early with the daemon's output when one exits.
 */
import type { DaemonStatus } from '@rustynet/cli';
import type { MeshNode } from './node-config.js';
import { sleep, type ProcessExit } from './processes.js';

/** Where the pollers read from (the `Mesh` provides it). */
export interface StatusSource {
  nodes: readonly MeshNode[];
  /** Status of node `id` from its local API. */
  status(id: string): Promise<DaemonStatus>;
  /** How node `id`'s daemon exited, or undefined while it runs. */
  exitOf(id: string): ProcessExit | undefined;
  /** Last lines of node `id`'s daemon output and log. */
  tail(id: string): Promise<string>;
}

/**
 * Polls every node's status (every 250 ms) until `pred` holds for all of them.
 * @throws Error naming the nodes that did not get there, with their output tails; or at once
 *   when a daemon exits.
 */
export async function waitForAll(
  src: StatusSource,
  pred: (id: string, s: DaemonStatus) => boolean,
  what: string,
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const last = new Map<string, string>();
  for (;;) {
    const pending: string[] = [];
    for (const n of src.nodes) {
      const exit = src.exitOf(n.id);
      if (exit) {
        throw new Error(`rustynetd on node ${n.id} exited (${JSON.stringify(exit)}) before it was ${what}\n${await src.tail(n.id)}`);
      }
      try {
        const s = await src.status(n.id);
        last.set(
          n.id,
          `state ${s.state}, netmap ${s.netmap?.version ?? 'none'}, ${s.peers.length} peers${s.lastRejection ? `, last rejection ${s.lastRejection.code}` : ''}`,
        );
        if (!pred(n.id, s)) pending.push(n.id);
      } catch (err) {
        last.set(n.id, (err as Error).message);
        pending.push(n.id);
      }
    }
    if (pending.length === 0) return;
    if (Date.now() > deadline) {
      const tails = await Promise.all(pending.map((id) => src.tail(id)));
      throw new Error(
        `nodes ${pending.join(', ')} not ${what} after ${timeoutMs} ms: ${pending.map((id) => `${id}: ${last.get(id)}`).join('; ')}\n${tails.join('\n')}`,
      );
    }
    await sleep(250);
  }
}

/**
 * Polls the status of each `[node, peer]` pair (every `pollMs`) until that node reports the
 * peer on `path`.
 * @returns `Date.now()` at the first poll where all pairs held.
 * @throws Error naming the pairs still on the other path after `timeoutMs`.
 */
export async function waitForPeerPath(
  src: Pick<StatusSource, 'status'>,
  pairs: Array<[string, string]>,
  path: 'direct' | 'relay',
  timeoutMs: number,
  pollMs: number,
): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const pending: string[] = [];
    await Promise.all(
      pairs.map(async ([id, peer]) => {
        const s = await src.status(id).catch(() => null);
        const p = s?.peers.find((x) => x.id === peer);
        if (p?.path !== path) pending.push(`${id}->${peer} ${p?.path ?? 'missing'}`);
      }),
    );
    if (pending.length === 0) return Date.now();
    if (Date.now() > deadline) throw new Error(`peers not on the ${path} path after ${timeoutMs} ms: ${pending.join(', ')}`);
    await sleep(pollMs);
  }
}
