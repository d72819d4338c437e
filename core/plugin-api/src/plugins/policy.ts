import type { CallOptions } from '../call-options.js';
import type { AclPolicy, AclProtocol } from '../types/acl.js';
import type { PolicyCapabilities } from '../types/capabilities.js';
import type { NetmapNode } from '../types/netmap.js';
import type { NodeId } from '../types/node-id.js';

/** Everything a policy plugin needs to compile an ACL for this node. */
export interface PolicyInput {
  /** This node's id. */
  self: NodeId;
  /** The nodes of the netmap (selectors resolve against them). */
  nodes: Array<Pick<NetmapNode, 'id' | 'addresses' | 'tags'>>;
  acl: AclPolicy;
  /** Tunnel interfaces reported by the loaded backend: the policy filters traffic on these. */
  interfaces: string[];
}

/** A flow to explain: `src` and `dst` are node ids or IP addresses. */
export interface FlowQuery {
  src: string;
  dst: string;
  proto: Exclude<AclProtocol, 'any'>;
  /** Destination port (tcp/udp). */
  port?: number;
}

/** The decision for a flow and why. */
export interface PolicyDecision {
  action: 'accept' | 'drop';
  /** Id of the deciding rule; `null` when no rule matched (default deny). */
  ruleId: string | null;
  ruleIndex: number | null;
  /** One readable sentence, e.g. `rule web-in (#2) matches: dst tag:web, tcp/443`. */
  reason: string;
}

/** Per-rule counters. */
export interface RuleCounter {
  ruleId: string;
  packets: number;
  bytes: number;
}

/**
 * A policy plugin enforces the netmap's ACL in the data path: default deny, first match wins,
 * return traffic of established flows allowed. Updates are atomic.
 */
export interface PolicyPlugin {
  readonly kind: 'policy';
  capabilities(): PolicyCapabilities;
  /** @throws RustynetError `ALREADY_RUNNING`, `PERMISSION_DENIED`, `POLICY_FAILED`. */
  start(options?: CallOptions): Promise<void>;
  /** Removes every rule/table the plugin made, and nothing else. Idempotent. */
  stop(options?: CallOptions): Promise<void>;
  /**
   * Checks an input without changing anything.
   * @throws RustynetError `INVALID_INPUT` with the field, e.g. `acl.rules[3].ports[0]`.
   */
  validate(input: PolicyInput): void;
  /**
   * Replaces the enforced policy atomically; on any error the previous policy stays.
   * @throws RustynetError `NOT_RUNNING`, `INVALID_INPUT`, `POLICY_FAILED`.
   */
  apply(input: PolicyInput, options?: CallOptions): Promise<void>;
  /** @throws RustynetError `NOT_RUNNING`, `UNSUPPORTED` without the `counters` capability. */
  counters(options?: CallOptions): Promise<RuleCounter[]>;
  /** Pure: which rule decides `flow` under `input`, and why. @throws `INVALID_INPUT`. */
  explain(input: PolicyInput, flow: FlowQuery): PolicyDecision;
}
