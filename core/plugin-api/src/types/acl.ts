/**
 * The access-control model carried in the signed netmap. Backend-neutral.
 *
 * Evaluation: rules are tried in order; the first whose `src`, `dst`, `proto` and `ports` all
 * match decides (`accept` or `drop`). **No match means deny.** An empty rule list denies all
 * mesh traffic except return traffic of flows the node itself started.
 */
export interface AclPolicy {
  /** Rules in order; the first match decides, and what no rule allows is denied. */
  rules: AclRule[];
}

/** Transport protocol a rule matches. `any` matches every protocol. */
export type AclProtocol = 'tcp' | 'udp' | 'icmp' | 'any';

/**
 * A selector names a set of overlay addresses:
 * - `*`: every address;
 * - `<node-id>` or `node:<node-id>`: that node's addresses;
 * - `tag:<tag>`: the addresses of every node carrying the tag;
 * - a CIDR (`100.64.0.0/24`, `fd00::/64`).
 */
export type AclSelector = string;

/** One ACL rule. */
export interface AclRule {
  /** Stable id used in counters, metrics and `policy explain`; defaults to `rule-<index>`. */
  id?: string;
  /** `accept` lets matching flows through, `drop` discards them. */
  action: 'accept' | 'drop';
  /** Source selectors (node ids, tags, CIDRs or `*`). */
  src: AclSelector[];
  /** Destination selectors (node ids, tags, CIDRs or `*`); ports are in {@link AclRule.ports}. */
  dst: AclSelector[];
  /** Protocol the rule matches: `tcp`, `udp`, `icmp` or `any`. */
  proto: AclProtocol;
  /** Destination ports or ranges (`443`, `"8000-8080"`); only with `tcp` or `udp`. Absent: all. */
  ports?: Array<number | string>;
}
