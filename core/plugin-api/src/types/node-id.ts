/**
 * A node's stable identifier in the netmap: a DNS label (RFC 1035 section 2.3.1, lower case),
 * 1 to 63 characters of `a-z`, `0-9` and `-`, not starting or ending with `-`.
 * Also used as the peer id in backend calls.
 */
export type NodeId = string;

/** Pattern every {@link NodeId} matches. */
export const NODE_ID_PATTERN = '^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$';
