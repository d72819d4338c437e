/**
 * Publishing a netmap document to a file-based mesh: each node's netmap file (and the relay
 * server's copy) written atomically, then each running daemon asked to reload it.
 */
import { LocalApiClient } from '@rustynet/cli';
import type { MeshNode } from './node-config.js';
import { writeNetmapFile } from './netmaps.js';

/**
 * Writes `doc` to the relay servers' copies (`relayFiles`) and to each of `nodes`' netmap
 * files; reloads the daemons for which `reload(id)` is true.
 * @returns the reload error per reloaded node (`undefined` when accepted).
 */
export async function publishNetmapDoc(
  doc: unknown,
  nodes: readonly MeshNode[],
  relayFiles: readonly string[],
  reload: (id: string) => boolean,
): Promise<Record<string, Error | undefined>> {
  const text = `${JSON.stringify(doc, null, 2)}\n`;
  const out: Record<string, Error | undefined> = {};
  // The relay server re-reads its copy (it refuses maps that fail verification or are older).
  for (const f of relayFiles) await writeNetmapFile(f, text);
  for (const n of nodes) {
    await writeNetmapFile(n.netmapFile, text);
    if (reload(n.id)) {
      out[n.id] = await new LocalApiClient(n.socket).reloadNetmap().then(
        () => undefined,
        (e: unknown) => (e instanceof Error ? e : new Error(String(e))),
      );
    }
  }
  return out;
}
