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
  /** The ACL of the netmap to enforce. */
  acl: AclPolicy;
  /** Tunnel interfaces reported by the loaded backend: the policy filters traffic on these. */
  interfaces: string[];
  /**
   * Exit-node duties of this node (API 1.0 addition, optional). Absent: none, and a plugin
   * without the `gateway` capability never sees it (the daemon leaves it out). See
   * docs/exit-nodes.md.
   */
  gateway?: GatewayInput;
}

/**
 * What the policy plugin does beyond the ACL when this node serves as, or uses, an exit node
 * (capability `gateway`). Both parts are optional and independent; every rule and setting they
 * need belongs to the plugin's own state, applied with the ACL in the same atomic update, and
 * removed by `stop` (and by the next `start` after a crash).
 */
export interface GatewayInput {
  /**
   * Serve as an exit node: forward packets from the tunnel interfaces with a source in
   * `sources` (peers' overlay host addresses) to any non-tunnel interface, rewriting their
   * source to that interface's address (masquerade), and turn on IPv4 forwarding for it.
   */
  serve?: {
    /** Overlay host prefixes (`/32`, `/128`) allowed to use this node as an exit. */
    sources: string[];
  };
  /**
   * Kill switch of a node using an exit node: any packet this node sends out of a non-tunnel
   * interface is dropped, except to `allow` (hosts of peers' endpoints and relays, the control
   * plane), loopback, and — with `lanAccess` — the prefixes directly connected to this node.
   * So when the exit or the tunnel to it is down, nothing leaks to the underlay.
   */
  killSwitch?: {
    /** Underlay hosts (IPv4/IPv6 literals) still reachable outside the tunnel. */
    allow: string[];
    /** Keep directly connected subnets (the local LAN) reachable outside the tunnel. */
    lanAccess: boolean;
  };
}

/** A flow to explain: `src` and `dst` are node ids or IP addresses. */
export interface FlowQuery {
  /** Source: a node id or an overlay IP address. */
  src: string;
  /** Destination: a node id or an overlay IP address. */
  dst: string;
  /** Protocol of the flow: `tcp`, `udp` or `icmp`. */
  proto: Exclude<AclProtocol, 'any'>;
  /** Destination port (tcp/udp). */
  port?: number;
}

/** The decision for a flow and why. */
export interface PolicyDecision {
  /** What the policy does with the flow. */
  action: 'accept' | 'drop';
  /** Id of the deciding rule; `null` when no rule matched (default deny). */
  ruleId: string | null;
  /** Index of the deciding rule in `acl.rules`, or `null` for the default deny. */
  ruleIndex: number | null;
  /** One readable sentence, e.g. `rule web-in (#2) matches: dst tag:web, tcp/443`. */
  reason: string;
}

/** Per-rule counters. */
export interface RuleCounter {
  /** Id of the ACL rule. */
  ruleId: string;
  /** Packets matched by the rule since it was installed. */
  packets: number;
  /** Bytes matched by the rule since it was installed. */
  bytes: number;
}

/**
 * A policy plugin enforces the netmap's ACL in the data path: default deny, first match wins,
 * return traffic of established flows allowed. Updates are atomic.
 */
export interface PolicyPlugin {
  /** Always `policy`. */
  readonly kind: 'policy';
  /** The capabilities this instance really has; equal to the manifest's. */
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
