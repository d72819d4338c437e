/**
 * Options of the OpenVPN backend (the `options` object of the backend entry in the daemon config).
 * The JSON Schema below is the manifest's `configSchema`; {@link resolveOptions} applies defaults.
 */
import { RustynetError } from '@rustynet/plugin-api';
import { DEFAULT_EXIT_TABLE, DEFAULT_PORT_SPAN, PORT_SPANS } from './rules.js';

/** Data-channel ciphers OpenVPN 2.6 may negotiate here (AEAD only). */
export const ALLOWED_DATA_CIPHERS = ['AES-256-GCM', 'AES-128-GCM', 'CHACHA20-POLY1305'] as const;

/** Resolved options with defaults applied. */
export interface OpenVpnOptions {
  /** Path or name of the openvpn 2.6 binary. Default `openvpn`. */
  openvpnPath: string;
  /** Path or name of the iproute2 `ip` binary. Default `ip`. */
  ipPath: string;
  /** Path or name of `sysctl` (per-device rp_filter). Default `sysctl`. */
  sysctlPath: string;
  /** Path or name of `nft` (the IPv6 ingress filter, see ingress6.ts). Default `nft`. */
  nftPath: string;
  /** Ports reserved above the base port for per-peer instances, a power of two 128..16384 (see docs). Default 1024. */
  portSpan: number;
  /** `--ping` seconds when a peer has no persistentKeepalive. Default 5. */
  pingIntervalS: number;
  /** `--ping-restart` seconds: a silent peer is re-handshaken after this. Default 30. */
  pingRestartS: number;
  /** `--data-ciphers`, in preference order. Default AES-256-GCM, CHACHA20-POLY1305. */
  dataCiphers: string[];
  /** `--hand-window` seconds: a TLS negotiation not finished by then is abandoned and retried. Default 10. */
  handWindowS: number;
  /** `--verb` log level 0..6. Default 2 (3 also logs every management connection, i.e. every stats() call). */
  verb: number;
  /** First restart delay of a dead instance in ms; doubles per crash up to the maximum. Default 500. */
  restartBackoffMs: number;
  /** Largest restart delay in ms. Default 30 000. */
  restartBackoffMaxMs: number;
  /** How long a new instance may take to open its management socket, in ms. Default 10 000. */
  readyTimeoutMs: number;
  /**
   * How long applyPeers/updatePeerEndpoint wait, at most, for new or restarted tunnels to peers
   * with a known endpoint to finish their TLS handshake before returning (openvpn drops packets
   * sent before that), in ms. Peers that do not answer within 2.5 s are not waited for. Not
   * reaching it is not an error. 0 returns at once. Default 5000.
   */
  connectWaitMs: number;
  /**
   * Routing table of exit (default) routes, also the fwmark of the instances' UDP packets and the
   * preference of the two policy rules (`exitTable` and `exitTable + 1`). Default 0x4f56 (20310).
   */
  exitTable: number;
}

/** JSON Schema of the options (draft-07). */
export const optionsSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    openvpnPath: { type: 'string', minLength: 1 },
    ipPath: { type: 'string', minLength: 1 },
    sysctlPath: { type: 'string', minLength: 1 },
    nftPath: { type: 'string', minLength: 1 },
    portSpan: { enum: [...PORT_SPANS] },
    pingIntervalS: { type: 'integer', minimum: 1, maximum: 3600 },
    pingRestartS: { type: 'integer', minimum: 2, maximum: 86400 },
    dataCiphers: { type: 'array', minItems: 1, uniqueItems: true, items: { enum: [...ALLOWED_DATA_CIPHERS] } },
    handWindowS: { type: 'integer', minimum: 2, maximum: 600 },
    verb: { type: 'integer', minimum: 0, maximum: 6 },
    restartBackoffMs: { type: 'integer', minimum: 10, maximum: 600000 },
    restartBackoffMaxMs: { type: 'integer', minimum: 10, maximum: 3600000 },
    readyTimeoutMs: { type: 'integer', minimum: 100, maximum: 600000 },
    connectWaitMs: { type: 'integer', minimum: 0, maximum: 600000 },
    exitTable: { type: 'integer', minimum: 1, maximum: 2147483646 },
  },
} as const;

const DEFAULTS: OpenVpnOptions = {
  openvpnPath: 'openvpn',
  ipPath: 'ip',
  sysctlPath: 'sysctl',
  nftPath: 'nft',
  portSpan: DEFAULT_PORT_SPAN,
  pingIntervalS: 5,
  pingRestartS: 30,
  dataCiphers: ['AES-256-GCM', 'CHACHA20-POLY1305'],
  handWindowS: 10,
  verb: 2,
  restartBackoffMs: 500,
  restartBackoffMaxMs: 30_000,
  readyTimeoutMs: 10_000,
  connectWaitMs: 5_000,
  exitTable: DEFAULT_EXIT_TABLE,
};

/**
 * Applies defaults over `input`. The daemon's loader has already validated `input` against the
 * manifest's `configSchema` (= {@link optionsSchema}: types, ranges, enums, no unknown keys), so
 * only what JSON Schema cannot state is checked here: relations between two options.
 * @throws RustynetError `CONFIG_INVALID` naming the option (`pingRestartS` must exceed
 *   `pingIntervalS`; `restartBackoffMaxMs` must be at least `restartBackoffMs`).
 */
export function resolveOptions(input: Readonly<Record<string, unknown>>): OpenVpnOptions {
  const given = input as Partial<OpenVpnOptions>;
  const out: OpenVpnOptions = { ...DEFAULTS, ...given, dataCiphers: [...new Set(given.dataCiphers ?? DEFAULTS.dataCiphers)] };
  const bad = (field: string, msg: string): never => {
    throw new RustynetError('CONFIG_INVALID', `options.${field}: ${msg}`, { field: `options.${field}` });
  };
  if (out.pingRestartS <= out.pingIntervalS) bad('pingRestartS', 'must be larger than pingIntervalS');
  if (out.restartBackoffMaxMs < out.restartBackoffMs) bad('restartBackoffMaxMs', 'must be >= restartBackoffMs');
  return out;
}
