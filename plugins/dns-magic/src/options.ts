import { isIP } from 'node:net';
import { RustynetError, type Endpoint } from '@rustynet/plugin-api';

/**
 * JSON Schema (draft-07) of the plugin's options in the daemon config. The same object is the
 * `configSchema` of `rustynet-plugin.json` (a unit test keeps the two equal).
 */
export const dnsMagicConfigSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    port: {
      type: 'integer',
      minimum: 0,
      maximum: 65535,
      description: 'Default port the daemon asks the plugin to listen on (UDP and TCP). Default 53.',
    },
    zone: {
      type: 'string',
      description: 'Zone served before the first update (normally the netmap sets it). Default "rustynet".',
    },
    ttl: {
      type: 'integer',
      minimum: 0,
      maximum: 2147483647,
      description: 'TTL in seconds of A/AAAA/NS/SOA records. Default 60.',
    },
    negativeTtl: {
      type: 'integer',
      minimum: 0,
      maximum: 2147483647,
      description: 'Negative-caching TTL in seconds (SOA MINIMUM, RFC 2308). Default: ttl.',
    },
    forwarder: {
      type: 'object',
      additionalProperties: false,
      required: ['host', 'port'],
      properties: {
        host: { type: 'string', description: 'IPv4 or IPv6 literal of the upstream resolver' },
        port: { type: 'integer', minimum: 1, maximum: 65535 },
        timeoutMs: { type: 'integer', minimum: 1, maximum: 60000, description: 'Default 2000.' },
        maxInflight: { type: 'integer', minimum: 1, maximum: 65535, description: 'Default 256.' },
      },
      description: 'Forward names outside the zone to this upstream over UDP (else REFUSED).',
    },
    rateLimit: {
      oneOf: [
        { const: false },
        {
          type: 'object',
          additionalProperties: false,
          properties: {
            qps: { type: 'number', exclusiveMinimum: 0, description: 'Refill rate per source IP. Default 500.' },
            burst: { type: 'integer', minimum: 1, description: 'Bucket size per source IP. Default 1000.' },
            action: { enum: ['drop', 'refused'], description: 'What happens to excess queries. Default drop.' },
            maxSources: { type: 'integer', minimum: 1, description: 'Tracked source IPs. Default 65536.' },
          },
        },
      ],
      description: 'Per-source-IP token bucket, or false to disable.',
    },
    tcpIdleTimeoutMs: {
      type: 'integer',
      minimum: 100,
      maximum: 600000,
      description: 'A TCP connection with no query or answer for this long is closed (RFC 7766 6.2.3). Default 5000.',
    },
    maxTcpConnections: {
      type: 'integer',
      minimum: 1,
      maximum: 65535,
      description: 'Open TCP connections in total; at the limit the longest-idle one is closed for a new one. Default 256.',
    },
    maxTcpConnectionsPerSource: {
      type: 'integer',
      minimum: 1,
      maximum: 65535,
      description: 'Open TCP connections per source address; at the limit its longest-idle one is closed for a new one. Default 16.',
    },
  },
} as const;

/** Where and how out-of-zone queries are forwarded. */
export interface ForwarderOptions extends Endpoint {
  /** Milliseconds to wait for the upstream's answer before answering SERVFAIL. */
  timeoutMs: number;
  /** Most forwarded queries in flight at once; beyond it the server answers SERVFAIL. */
  maxInflight: number;
}

/** Token-bucket settings, per source IP address. */
export interface RateLimitOptions {
  /** Tokens added per second. */
  qps: number;
  /** Bucket capacity: the largest burst a source may send at once. */
  burst: number;
  /** `drop`: excess queries get no answer; `refused`: they get REFUSED. Both are counted. */
  action: 'drop' | 'refused';
  /** Source IPs tracked at once; when full, idle buckets are forgotten. */
  maxSources: number;
}

/** The plugin's options after defaults are applied. */
export interface DnsMagicOptions {
  port: number;
  zone: string;
  ttl: number;
  negativeTtl: number;
  forwarder: ForwarderOptions | null;
  rateLimit: RateLimitOptions | null;
  /** A TCP connection idle this long (ms) is closed. */
  tcpIdleTimeoutMs: number;
  /** Open TCP connections in total (the longest-idle one makes room for a new one). */
  maxTcpConnections: number;
  /** Open TCP connections per source address (its longest-idle one makes room for a new one). */
  maxTcpConnectionsPerSource: number;
}

/** Defaults of {@link DnsMagicOptions}. */
export const DEFAULTS = {
  port: 53,
  zone: 'rustynet',
  ttl: 60,
  forwarderTimeoutMs: 2000,
  forwarderMaxInflight: 256,
  rateQps: 500,
  rateBurst: 1000,
  rateMaxSources: 65536,
  tcpIdleTimeoutMs: 5_000,
  maxTcpConnections: 256,
  maxTcpConnectionsPerSource: 16,
} as const;

function bad(field: string, message: string): RustynetError {
  return new RustynetError('CONFIG_INVALID', `options.${field}: ${message}`, { field: `options.${field}` });
}

function int(v: unknown, field: string, min: number, max: number, dflt: number): number {
  if (v === undefined) return dflt;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw bad(field, `must be an integer in ${min}..${max}`);
  }
  return v;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Applies defaults to raw plugin options and checks them. Under the daemon the loader has
 * validated them against {@link dnsMagicConfigSchema} already, but the standalone server
 * (standalone.ts) takes options from its command line with no loader, and the schema cannot say
 * that `forwarder.host` is an IP literal: so these checks stay.
 * @throws RustynetError `CONFIG_INVALID` with `field` = `options.<name>`.
 */
export function parseOptions(raw: Readonly<Record<string, unknown>>): DnsMagicOptions {
  const known = new Set(Object.keys(dnsMagicConfigSchema.properties));
  for (const k of Object.keys(raw)) if (!known.has(k)) throw bad(k, 'unknown option');
  const ttl = int(raw.ttl, 'ttl', 0, 2147483647, DEFAULTS.ttl);
  const zone = raw.zone === undefined ? DEFAULTS.zone : raw.zone;
  if (typeof zone !== 'string') throw bad('zone', 'must be a string');
  let forwarder: ForwarderOptions | null = null;
  if (raw.forwarder !== undefined) {
    const f = raw.forwarder;
    if (!isObject(f)) throw bad('forwarder', 'must be an object {host, port}');
    if (typeof f.host !== 'string' || isIP(f.host) === 0) throw bad('forwarder.host', 'must be an IP literal');
    forwarder = {
      host: f.host,
      port: int(f.port, 'forwarder.port', 1, 65535, -1),
      timeoutMs: int(f.timeoutMs, 'forwarder.timeoutMs', 1, 60000, DEFAULTS.forwarderTimeoutMs),
      maxInflight: int(f.maxInflight, 'forwarder.maxInflight', 1, 65535, DEFAULTS.forwarderMaxInflight),
    };
  }
  let rateLimit: RateLimitOptions | null = {
    qps: DEFAULTS.rateQps,
    burst: DEFAULTS.rateBurst,
    action: 'drop',
    maxSources: DEFAULTS.rateMaxSources,
  };
  if (raw.rateLimit === false) rateLimit = null;
  else if (raw.rateLimit !== undefined) {
    const r = raw.rateLimit;
    if (!isObject(r)) throw bad('rateLimit', 'must be false or an object {qps, burst}');
    const qps = r.qps === undefined ? DEFAULTS.rateQps : r.qps;
    if (typeof qps !== 'number' || !Number.isFinite(qps) || qps <= 0) throw bad('rateLimit.qps', 'must be a number > 0');
    const action = r.action === undefined ? 'drop' : r.action;
    if (action !== 'drop' && action !== 'refused') throw bad('rateLimit.action', 'must be "drop" or "refused"');
    rateLimit = {
      qps,
      burst: int(r.burst, 'rateLimit.burst', 1, 2 ** 31 - 1, DEFAULTS.rateBurst),
      action,
      maxSources: int(r.maxSources, 'rateLimit.maxSources', 1, 2 ** 31 - 1, DEFAULTS.rateMaxSources),
    };
  }
  return {
    port: int(raw.port, 'port', 0, 65535, DEFAULTS.port),
    zone,
    ttl,
    negativeTtl: int(raw.negativeTtl, 'negativeTtl', 0, 2147483647, ttl),
    forwarder,
    rateLimit,
    tcpIdleTimeoutMs: int(raw.tcpIdleTimeoutMs, 'tcpIdleTimeoutMs', 100, 600000, DEFAULTS.tcpIdleTimeoutMs),
    maxTcpConnections: int(raw.maxTcpConnections, 'maxTcpConnections', 1, 65535, DEFAULTS.maxTcpConnections),
    maxTcpConnectionsPerSource: int(
      raw.maxTcpConnectionsPerSource,
      'maxTcpConnectionsPerSource',
      1,
      65535,
      DEFAULTS.maxTcpConnectionsPerSource,
    ),
  };
}
