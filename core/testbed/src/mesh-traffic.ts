/**
 * The traffic side of a test mesh, as the base class of `Mesh`: ping matrices, continuous pings,
 * pings by name, DNS queries, policy counters, and cutting the direct underlay path between two
 * nodes. Each method runs inside the namespaces of the mesh's nodes.
 */
import type { ResolvedMeshOptions } from './options.js';
import type { MeshNode } from './node-config.js';
import { PING_MATRIX_ATTEMPTS } from './reference-defaults.js';
import {
  digFrom,
  nftCounters,
  pingMatrix,
  pingName,
  renderPingMatrix,
  startContinuousPing,
  type ContinuousPing,
  type PingResult,
} from './traffic.js';
import { blockPathBetween, unblockPathBetween } from './underlay.js';

/** Traffic helpers over a mesh's nodes (see `Mesh`). */
export abstract class MeshTraffic {
  /** The mesh's nodes. */
  abstract readonly nodes: MeshNode[];
  /** The mesh's options. */
  abstract readonly opts: ResolvedMeshOptions;
  /** The node with id `id`. */
  abstract node(id: string): MeshNode;

  /**
   * Pings every node from every other over the mesh, IPv4 and IPv6 (in parallel).
   * @param attempts ping attempts per pair (1 s each), default {@link PING_MATRIX_ATTEMPTS}
   *   (see there why fewer would make the matrix flaky).
   */
  pingMatrix(attempts = PING_MATRIX_ATTEMPTS, pairs?: Array<[string, string]>): Promise<PingResult[]> {
    return pingMatrix(this.nodes, attempts, pairs);
  }

  /** Renders a ping matrix as text: rows are sources, columns destinations, cells `v4 / v6`. */
  static renderMatrix(results: PingResult[], nodeIds: string[]): string {
    return renderPingMatrix(results, nodeIds);
  }

  /**
   * Blocks all underlay traffic between nodes `x` and `y` with nftables in both namespaces
   * (the harness's `blockPath`). Traffic through other hosts (the relay) is not affected.
   * @returns `Date.now()` when the first block was in place (from then on the path is cut).
   */
  blockDirect(x: string, y: string): Promise<number> {
    return blockPathBetween(this.node(x).host, this.node(y).host);
  }

  /**
   * Removes the blocks of {@link blockDirect} in both namespaces (in parallel).
   * @returns `Date.now()` when both were removed (from then on the path is open).
   */
  unblockDirect(x: string, y: string): Promise<number> {
    return unblockPathBetween(this.node(x).host, this.node(y).host);
  }

  /**
   * Starts `ping -D -i <intervalS>` from node `from` to `address` (one echo request per
   * interval until stopped) and records the time of every reply.
   */
  continuousPing(from: string, address: string, intervalS = 0.1): ContinuousPing {
    return startContinuousPing(this.node(from).host, address, intervalS);
  }

  /**
   * `ping -c1 -W1 <name>` from node `from`, resolving the name through the namespace's
   * resolv.conf (Magic DNS), up to `attempts` times.
   * @returns whether a reply came and the address ping resolved the name to.
   */
  pingByName(from: string, name: string, attempts = 3): Promise<{ ok: boolean; address: string | null; output: string }> {
    return pingName(this.node(from).host, name, attempts);
  }

  /**
   * `dig @<server> <name> <type>` from node `from` (1 s timeout, 2 tries).
   * @returns the RCODE (`NOERROR`, `NXDOMAIN`, ...; `TIMEOUT` when no answer came) and the
   *   answer section's record data (e.g. addresses).
   */
  dig(from: string, server: string, name: string, type = 'A'): Promise<{ status: string; answers: string[] }> {
    return digFrom(this.node(from).host, server, name, type);
  }

  /**
   * The policy plugin's named counters in node `id`'s namespace (`nft -j list counters table
   * inet <MeshPluginSet.policyTable>`): the counter of each ACL rule carries the rule id as its
   * comment; `default_drop` counts the default deny.
   */
  policyCounters(id: string): Promise<Array<{ name: string; rule: string; packets: number; bytes: number }>> {
    return nftCounters(this.node(id).host, this.opts.plugins.policyTable);
  }
}
