/**
 * Options of `@rustynet/policy-nftables` (the `options` object of its entry in the daemon
 * config). The same schema is the manifest's `configSchema`; a unit test keeps them equal.
 */

/** Resolved options with every default applied. */
export interface PolicyOptions {
  /** Name of the nftables table (family `inet`) the plugin owns. Default `rustynet_policy`. */
  table: string;
  /**
   * Base-chain priority relative to the `filter` priority (0), nftables manual "CHAINS".
   * Default -10: our chains see packets before chains at the standard filter priority.
   */
  priority: number;
  /** Also filter forwarded traffic coming in on the mesh interfaces. Default true. */
  filterForward: boolean;
  /**
   * Accept ICMPv6 neighbour solicitation/advertisement (RFC 4890 section 4.4.1) on the mesh
   * interfaces before the ACL, so IPv6 works on tunnels that have a link layer. Default true.
   */
  allowNeighborDiscovery: boolean;
  /** Drop packets conntrack classifies as `invalid` before the ACL. Default true. */
  dropInvalid: boolean;
  /**
   * Drop packets whose source is another node's mesh address but that did not arrive on a mesh
   * interface (spoofed over the underlay or a LAN), so the ACL's source checks cannot be
   * bypassed. Default true.
   */
  dropSpoofed: boolean;
  /** Period of the counter poll that feeds the metrics, in ms; 0 disables. Default 10000. */
  counterPollIntervalMs: number;
  /** The nft executable. Default `nft` (looked up in PATH by the command runner). */
  nft: string;
  /**
   * Interface names (nft `iifname` patterns, `*` suffix allowed) to block (empty policy) from
   * `start()` until the first `apply()`, so mesh traffic is never open before the policy is in
   * place. Default `[]` (nothing installed before the first apply).
   */
  startupInterfaces: string[];
}

/** Defaults of {@link PolicyOptions}. */
export const DEFAULT_OPTIONS: Readonly<PolicyOptions> = Object.freeze({
  table: 'rustynet_policy',
  priority: -10,
  filterForward: true,
  allowNeighborDiscovery: true,
  dropInvalid: true,
  dropSpoofed: true,
  counterPollIntervalMs: 10_000,
  nft: 'nft',
  startupInterfaces: [],
});

/** nftables table names we accept: an identifier (nft grammar) of at most 64 characters. */
export const TABLE_NAME_PATTERN = '^[A-Za-z][A-Za-z0-9_]{0,63}$';
/** Interface name or nft wildcard (`rn*`): at most 15 bytes (IFNAMSIZ - 1) before the `*`. */
export const INTERFACE_PATTERN = '^[A-Za-z0-9_.-]{1,15}\\*?$';

/** JSON Schema (draft-07) of the options; identical to `configSchema` in the manifest. */
export const optionsSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    table: { type: 'string', pattern: TABLE_NAME_PATTERN, default: DEFAULT_OPTIONS.table },
    priority: { type: 'integer', minimum: -300, maximum: 300, default: DEFAULT_OPTIONS.priority },
    filterForward: { type: 'boolean', default: DEFAULT_OPTIONS.filterForward },
    allowNeighborDiscovery: { type: 'boolean', default: DEFAULT_OPTIONS.allowNeighborDiscovery },
    dropInvalid: { type: 'boolean', default: DEFAULT_OPTIONS.dropInvalid },
    dropSpoofed: { type: 'boolean', default: DEFAULT_OPTIONS.dropSpoofed },
    counterPollIntervalMs: { type: 'integer', minimum: 0, default: DEFAULT_OPTIONS.counterPollIntervalMs },
    nft: { type: 'string', minLength: 1, default: DEFAULT_OPTIONS.nft },
    startupInterfaces: {
      type: 'array',
      items: { type: 'string', pattern: INTERFACE_PATTERN },
      default: [],
    },
  },
} as const;

/**
 * Applies defaults over `raw`. The daemon's loader has already validated `raw` against the
 * manifest's `configSchema` (= {@link optionsSchema}: names, types, ranges, patterns) and filled
 * its defaults; every rule of these options is in that schema, so nothing is re-checked here.
 */
export function resolveOptions(raw: Readonly<Record<string, unknown>> | undefined): PolicyOptions {
  const given = (raw ?? {}) as Partial<PolicyOptions>;
  return { ...DEFAULT_OPTIONS, ...given, startupInterfaces: [...(given.startupInterfaces ?? DEFAULT_OPTIONS.startupInterfaces)] };
}
