import { NODE_ID_PATTERN } from '@rustynet/plugin-api';
import { tracingConfigSchema, type TracingConfig } from '../tracing/tracing-sdk.js';

/**
 * Where the daemon gets its signed netmap: a file (polled), a URL (fetched), or the control plane
 * (enrolment and long-poll; see {@link ControlSourceConfig}), and its limits.
 */
export type NetmapSourceConfig = (
  { file: string; deltaFile?: string } | { url: string; timeoutMs?: number } | { control: ControlSourceConfig }
) &
  NetmapLimitsConfig;

/** Settings shared by every netmap source. */
export interface NetmapLimitsConfig {
  /** Poll interval in ms (default 1000). */
  pollIntervalMs?: number;
  /**
   * Largest accepted netmap in bytes (default 16 MiB = 16777216); a larger one is refused with
   * `NETMAP_TOO_LARGE` before it is parsed.
   */
  maxBytes?: number;
  /**
   * Seconds before the applied netmap's `expiresAt` at which a warning is logged (default 600;
   * 0: no warning). At `expiresAt` the daemon fails closed (see docs/operations/faults.md).
   */
  expiryWarningSeconds?: number;
}

/**
 * `netmap.control`: the control plane this node enrols with and long-polls. The daemon itself
 * does not speak the control protocol: the embedding program (`rustynetd`) builds the source
 * from this block and passes it as `DaemonOptions.netmapSource`. Needs `identityKeyFile`.
 */
export interface ControlSourceConfig {
  /** Base URL of the control plane's node API (`https://control.example:4242`). */
  url: string;
  /**
   * Further instances of the same control plane (sharing its PostgreSQL database), tried in
   * order when the current one is unreachable; the daemon stays on the one that answers. At most 8.
   */
  urls?: string[];
  /** File holding the pre-auth key (mode 0600; a secret, never logged). Used only to enrol. */
  authKeyFile: string;
  /** Extra CA certificate(s) (PEM) trusted for an HTTPS `url`. */
  caFile?: string;
  /** Underlay endpoints reported to the control plane (default none: the node only dials out). */
  endpoints?: Array<{ host: string; port: number }>;
  /** Long-poll hold asked of the server, ms (default 25000). */
  waitMs?: number;
  /** Longest retry delay while the control plane is away, ms (default 30000; jittered back-off). */
  maxRetryMs?: number;
}

/** One non-backend plugin to load. */
export interface PluginEntryConfig {
  /** Package name or path (starting with `.` or `/`). */
  plugin: string;
  options?: Record<string, unknown>;
}

/**
 * The daemon's configuration (`rustynetd --config <file>`), validated by {@link daemonConfigSchema}.
 */
export interface DaemonConfig {
  /** This node's id in the netmap. */
  node: string;
  /** State directory (mode 0700): watermark, last good netmap, audit log, plugin state. */
  stateDir: string;
  /** Unix socket path of the local API (mode 0600). */
  socket: string;
  /** Control-plane Ed25519 public key, raw 32 bytes in base64. */
  controlPlaneKey: string;
  /**
   * Further trusted control-plane keys (raw Ed25519, base64): a map signed by any pinned key
   * verifies. Used to re-pin after a signing-key rotation the node missed
   * (docs/operations/key-rotation.md). At most 8.
   */
  controlPlaneKeys?: string[];
  /** This node's Ed25519 identity key (PKCS#8 PEM file, mode 0600). Needed by the relay plugin. */
  identityKeyFile?: string;
  netmap: NetmapSourceConfig;
  backend: {
    plugin: string;
    /** Tunnel device name (IFNAMSIZ - 1 = 15 bytes at most). */
    interfaceName: string;
    keyDirectory: string;
    /** Underlay listen port; default: the port of this node's first netmap endpoint, else 0. */
    listenPort?: number;
    mtu?: number;
    /** Keepalive (s) put on every peer; default none. */
    persistentKeepalive?: number;
    options?: Record<string, unknown>;
  };
  plugins?: PluginEntryConfig[];
  log?: { level?: 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent'; file?: string; pretty?: boolean };
  /** Hook settings: deadline of each tap in ms (default 5000). */
  hooks?: { deadlineMs?: number };
  /** Deadline of each plugin call in ms (default 30000). */
  callTimeoutMs?: number;
  /**
   * Direct-path probing (see docs/path-controller.md). Absent: probing is off, no probe socket,
   * every peer stays direct. Needs `identityKeyFile` (probes are signed with the identity key).
   */
  pathProbe?: PathProbeConfig;
  /**
   * Node id of the peer this node sends its internet traffic through. Default routes
   * (`0.0.0.0/0`, `::/0`) are installed only via this peer; other peers' default routes are left
   * out of both the routes and their allowed IPs. Absent: no exit node, no default route.
   */
  exitNode?: string;
  /**
   * With `exitNode`: keep the subnets directly connected to this node (its LAN) reachable
   * outside the tunnel (default false: the kill switch blocks them too). See docs/exit-nodes.md.
   */
  exitLanAccess?: boolean;
  /**
   * With `exitNode`: underlay hosts (IP literals) the kill switch still lets through besides the
   * peers' endpoints and relays, e.g. the control plane (a `netmap.url` / `netmap.control.url`
   * host that is an IP literal is added automatically).
   */
  killSwitchAllow?: string[];
  /**
   * The optional HTTP listener for scrapers and supervisors (`/metrics`, `/healthz`, `/readyz`;
   * see docs/operations/production.md). Absent: metrics only over the local API socket.
   */
  metrics?: MetricsConfig;
  /**
   * OpenTelemetry tracing (spans for relay registration, relayed sessions, path switches and
   * relay failover; see docs/operations/tracing.md). Absent: the `OTEL_*` environment decides;
   * with neither, tracing is off and the SDK is not loaded.
   */
  tracing?: TracingConfig;
}

/** `DaemonConfig.metrics`. */
export interface MetricsConfig {
  /** TCP listener; `host` defaults to `127.0.0.1` (loopback). No listener when absent. */
  listen?: { host?: string; port: number };
  /**
   * Peers that get their own `peer` label value on the per-peer metrics (default 64, at most
   * 1024). Peers beyond the cap (in node-id order) are summed under `peer="_other"`, so a large
   * mesh cannot blow up the scraper's series count.
   */
  peerLabelLimit?: number;
}

/** `DaemonConfig.pathProbe`. */
export interface PathProbeConfig {
  /** UDP port the probe socket binds on every underlay address (`0.0.0.0`); must equal this node's netmap `probePort`. */
  port: number;
  /** Probe interval in ms (default 500). */
  intervalMs?: number;
  /** Consecutive unanswered probes before a peer is switched to the relay (default 3). */
  failuresToRelay?: number;
  /** Consecutive answered probes before a relayed peer returns to the direct path (default 3). */
  successesToDirect?: number;
  /** Largest accepted |probe timestamp - local clock| in ms (default 30000). */
  maxClockSkewMs?: number;
}

const path = { type: 'string', minLength: 1, maxLength: 4096 } as const;
const spec = { type: 'string', minLength: 1, maxLength: 4096 } as const;
const options = { type: 'object' } as const;
/** Schema of {@link NetmapLimitsConfig}, in both netmap source variants. */
const netmapLimits = {
  pollIntervalMs: { type: 'integer', minimum: 50, maximum: 3600000 },
  maxBytes: { type: 'integer', minimum: 1024, maximum: 1073741824 },
  expiryWarningSeconds: { type: 'integer', minimum: 0, maximum: 31536000 },
} as const;

/** JSON Schema (draft-07) of {@link DaemonConfig}. */
export const daemonConfigSchema = {
  $id: 'https://rustynet.dev/schemas/daemon-config-1.json',
  title: 'Rustynet daemon configuration',
  type: 'object',
  additionalProperties: false,
  required: ['node', 'stateDir', 'socket', 'controlPlaneKey', 'netmap', 'backend'],
  properties: {
    $schema: { type: 'string' },
    node: { type: 'string', pattern: NODE_ID_PATTERN },
    stateDir: path,
    socket: { type: 'string', minLength: 1, maxLength: 107 },
    controlPlaneKey: { type: 'string', pattern: '^[A-Za-z0-9+/]{43}=$' },
    controlPlaneKeys: { type: 'array', maxItems: 8, uniqueItems: true, items: { type: 'string', pattern: '^[A-Za-z0-9+/]{43}=$' } },
    identityKeyFile: path,
    netmap: {
      type: 'object',
      oneOf: [
        {
          additionalProperties: false,
          required: ['file'],
          properties: { file: path, deltaFile: path, ...netmapLimits },
        },
        {
          additionalProperties: false,
          required: ['url'],
          properties: {
            url: { type: 'string', format: 'uri', pattern: '^https?://' },
            ...netmapLimits,
            timeoutMs: { type: 'integer', minimum: 1, maximum: 600000 },
          },
        },
        {
          additionalProperties: false,
          required: ['control'],
          properties: {
            control: {
              type: 'object',
              additionalProperties: false,
              required: ['url', 'authKeyFile'],
              properties: {
                url: { type: 'string', format: 'uri', pattern: '^https?://' },
                urls: {
                  type: 'array',
                  maxItems: 8,
                  uniqueItems: true,
                  items: { type: 'string', format: 'uri', pattern: '^https?://' },
                },
                authKeyFile: path,
                caFile: path,
                endpoints: {
                  type: 'array',
                  maxItems: 16,
                  items: {
                    type: 'object',
                    additionalProperties: false,
                    required: ['host', 'port'],
                    properties: {
                      host: { type: 'string', minLength: 1, maxLength: 253 },
                      port: { type: 'integer', minimum: 1, maximum: 65535 },
                    },
                  },
                },
                waitMs: { type: 'integer', minimum: 0, maximum: 600000 },
                maxRetryMs: { type: 'integer', minimum: 50, maximum: 3600000 },
              },
            },
            ...netmapLimits,
          },
        },
      ],
    },
    backend: {
      type: 'object',
      additionalProperties: false,
      required: ['plugin', 'interfaceName', 'keyDirectory'],
      properties: {
        plugin: spec,
        interfaceName: { type: 'string', pattern: '^[A-Za-z0-9_.-]{1,15}$' },
        keyDirectory: path,
        listenPort: { type: 'integer', minimum: 0, maximum: 65535 },
        mtu: { type: 'integer', minimum: 576, maximum: 65535 },
        persistentKeepalive: { type: 'integer', minimum: 0, maximum: 65535 },
        options,
      },
    },
    plugins: {
      type: 'array',
      maxItems: 16,
      items: { type: 'object', additionalProperties: false, required: ['plugin'], properties: { plugin: spec, options } },
    },
    log: {
      type: 'object',
      additionalProperties: false,
      properties: {
        level: { enum: ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] },
        file: path,
        pretty: { type: 'boolean' },
      },
    },
    hooks: {
      type: 'object',
      additionalProperties: false,
      properties: { deadlineMs: { type: 'integer', minimum: 1, maximum: 600000 } },
    },
    callTimeoutMs: { type: 'integer', minimum: 1, maximum: 3600000 },
    pathProbe: {
      type: 'object',
      additionalProperties: false,
      required: ['port'],
      properties: {
        port: { type: 'integer', minimum: 1, maximum: 65535 },
        intervalMs: { type: 'integer', minimum: 50, maximum: 60000 },
        failuresToRelay: { type: 'integer', minimum: 1, maximum: 100 },
        successesToDirect: { type: 'integer', minimum: 1, maximum: 100 },
        maxClockSkewMs: { type: 'integer', minimum: 1000, maximum: 600000 },
      },
    },
    exitNode: { type: 'string', pattern: NODE_ID_PATTERN },
    tracing: tracingConfigSchema,
    exitLanAccess: { type: 'boolean' },
    killSwitchAllow: { type: 'array', maxItems: 64, items: { type: 'string', pattern: '^[0-9A-Fa-f.:]{2,45}$' } },
    metrics: {
      type: 'object',
      additionalProperties: false,
      properties: {
        listen: {
          type: 'object',
          additionalProperties: false,
          required: ['port'],
          properties: {
            host: { type: 'string', minLength: 1, maxLength: 253 },
            port: { type: 'integer', minimum: 0, maximum: 65535 },
          },
        },
        peerLabelLimit: { type: 'integer', minimum: 0, maximum: 1024 },
      },
    },
  },
} as const;
