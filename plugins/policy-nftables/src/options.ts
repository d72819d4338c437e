/**
 * Options of `@rustynet/policy-nftables` (the `options` object of its entry in the daemon
 * config). The same schema is the manifest's `configSchema`; a unit test keeps them equal.
 */
import { invalidInput } from '@rustynet/plugin-api';

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
 * Applies defaults and checks the options (the host validated them against the schema already;
 * this guards direct users such as tests and the bench).
 * @throws RustynetError `INVALID_INPUT` naming the option, e.g. `options.table`.
 */
export function resolveOptions(raw: Readonly<Record<string, unknown>> | undefined): PolicyOptions {
  const o = { ...DEFAULT_OPTIONS, ...(raw ?? {}) } as Record<string, unknown>;
  for (const key of Object.keys(raw ?? {})) {
    if (!(key in optionsSchema.properties)) throw invalidInput(`options.${key}`, 'unknown option');
  }
  if (typeof o['table'] !== 'string' || !new RegExp(TABLE_NAME_PATTERN).test(o['table'])) {
    throw invalidInput('options.table', `must match ${TABLE_NAME_PATTERN}`);
  }
  const pr = o['priority'];
  if (typeof pr !== 'number' || !Number.isInteger(pr) || pr < -300 || pr > 300) {
    throw invalidInput('options.priority', 'must be an integer in -300..300');
  }
  for (const k of ['filterForward', 'allowNeighborDiscovery', 'dropInvalid'] as const) {
    if (typeof o[k] !== 'boolean') throw invalidInput(`options.${k}`, 'must be a boolean');
  }
  const poll = o['counterPollIntervalMs'];
  if (typeof poll !== 'number' || !Number.isInteger(poll) || poll < 0) {
    throw invalidInput('options.counterPollIntervalMs', 'must be an integer >= 0');
  }
  if (typeof o['nft'] !== 'string' || o['nft'] === '') throw invalidInput('options.nft', 'must be a non-empty string');
  const su = o['startupInterfaces'];
  if (!Array.isArray(su)) throw invalidInput('options.startupInterfaces', 'must be an array');
  su.forEach((name, i) => {
    if (typeof name !== 'string' || !new RegExp(INTERFACE_PATTERN).test(name)) {
      throw invalidInput(`options.startupInterfaces[${i}]`, `must match ${INTERFACE_PATTERN}`);
    }
  });
  return o as unknown as PolicyOptions;
}
