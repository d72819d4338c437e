/** Options of the relay client plugin (its `options` in the daemon config; see `configSchema`). */

/** Options of the relay client. */
export interface RelayClientOptions {
  /** How long to wait for each CHALLENGE / REGISTERED answer (ms). Default 1 000. */
  attemptTimeoutMs: number;
  /** First back-off after every relay failed once (ms); doubles up to `maxBackoffMs`. Default 250. */
  initialBackoffMs: number;
  /** Largest back-off between registration rounds (ms). Default 5 000. */
  maxBackoffMs: number;
  /** Upper bound of the keepalive interval (ms); the server's recommendation wins when smaller. Default 10 000. */
  keepaliveIntervalMs: number;
  /**
   * Probe rounds in a row without any answer from a relay before it is unhealthy: its session is
   * dropped, it is registered again in the background, and a home relay is replaced. Default 3.
   */
  keepaliveMisses: number;
  /**
   * Interval of the probe rounds (ms): a KEEPALIVE to every registered relay, whose answer gives
   * the relay's round-trip time and health (bounded by `keepaliveIntervalMs`). Default 500, so a dead
   * home relay is noticed after 1.5–2 s with `keepaliveMisses` 3.
   */
  probeIntervalMs: number;
  /** A healthy home relay is replaced by a nearer one only when its RTT is lower by more than this (ms) or 20 %, whichever is more. Default 10. */
  switchMarginMs: number;
  /** ... in this many probe rounds in a row. Default 3. */
  switchAfterRounds: number;
  /** SO_RCVBUF / SO_SNDBUF requests for the relay socket and each path socket (bytes). Default 4 MiB / 1 MiB. */
  relaySocketBufferSize: number;
  pathSocketBufferSize: number;
  /**
   * Kernel fast path (docs/relay.md): ask the relay for a per-peer allocation port and give the
   * backend `relay address:allocation port` as the peer's endpoint, so the backend's own socket
   * sends its raw datagrams there and nothing passes through this process. Needs a backend that
   * listens on all addresses at the port it reports (wireguard-go does) and an IPv4 relay running
   * `--kernel-forwarding`; otherwise (answer 0 or none) the loopback path is used. Default false.
   */
  fastPath: boolean;
}

/** Defaults of {@link RelayClientOptions}. */
export const DEFAULT_CLIENT_OPTIONS: Readonly<RelayClientOptions> = Object.freeze({
  attemptTimeoutMs: 1000,
  initialBackoffMs: 250,
  maxBackoffMs: 5000,
  keepaliveIntervalMs: 10_000,
  keepaliveMisses: 3,
  probeIntervalMs: 500,
  switchMarginMs: 10,
  switchAfterRounds: 3,
  relaySocketBufferSize: 4 * 1024 * 1024,
  pathSocketBufferSize: 1024 * 1024,
  fastPath: false,
});

/** JSON Schema of {@link RelayClientOptions} (also the manifest's `configSchema`). */
export const relayClientConfigSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    attemptTimeoutMs: { type: 'integer', minimum: 10, maximum: 60000 },
    initialBackoffMs: { type: 'integer', minimum: 1, maximum: 60000 },
    maxBackoffMs: { type: 'integer', minimum: 1, maximum: 600000 },
    keepaliveIntervalMs: { type: 'integer', minimum: 100, maximum: 600000 },
    keepaliveMisses: { type: 'integer', minimum: 1, maximum: 100 },
    probeIntervalMs: { type: 'integer', minimum: 50, maximum: 600000 },
    switchMarginMs: { type: 'integer', minimum: 0, maximum: 60000 },
    switchAfterRounds: { type: 'integer', minimum: 1, maximum: 1000 },
    relaySocketBufferSize: { type: 'integer', minimum: 4096, maximum: 1073741824 },
    pathSocketBufferSize: { type: 'integer', minimum: 4096, maximum: 1073741824 },
    fastPath: { type: 'boolean' },
  },
} as const;

/**
 * The options: `raw` over {@link DEFAULT_CLIENT_OPTIONS}. The daemon's loader has validated `raw`
 * against the manifest's `configSchema` (= {@link relayClientConfigSchema}: names, integer
 * ranges), which states every rule, so nothing is re-checked here.
 */
export function resolveOptions(raw: Readonly<Record<string, unknown>> | undefined): RelayClientOptions {
  return { ...DEFAULT_CLIENT_OPTIONS, ...(raw as Partial<RelayClientOptions> | undefined) };
}
