import { snapshotNamespace, type Snapshot } from '../common/snapshot.js';
import type { SuiteNode } from './fixture.js';

export { walk } from '../common/snapshot.js';

/**
 * Everything of a node's namespace its backend could leave behind (see
 * {@link snapshotNamespace}): the node's state directory and files named after its interface.
 */
export function snapshotNode(n: SuiteNode): Promise<Snapshot> {
  return snapshotNamespace({
    netns: n.host.netns,
    exec: (file, args) => n.host.exec(file, args, { reject: false }).then((r) => r.stdout),
    pluginHostPids: n.plugin.pid !== undefined ? [n.plugin.pid] : [],
    stateDirs: [n.plugin.loaded.pluginStateDir],
    ignoreDirs: [n.keyDir],
    names: [n.ifname],
  });
}
