/**
 * An IP prefix in CIDR notation: `100.64.0.1/32`, `fd7a:115c:a1e0::1/128`, `0.0.0.0/0`.
 * Allowed IPs, routes and node addresses are all CIDRs. Host bits must be zero except for
 * node addresses, which are host prefixes (`/32`, `/128`).
 */
export type Cidr = string;
