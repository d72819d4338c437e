import { RustynetError } from '@rustynet/plugin-api';

/** How the WireGuard device is provided. */
export type UserspaceMode = 'auto' | 'always' | 'never';

/**
 * The plugin's options (`backend.options` in the daemon config), as described by the manifest's
 * `configSchema`. The host validates them with that schema; {@link parseOptions} re-checks and
 * fills defaults so the plugin also works with hosts that do not.
 */
export interface WireguardOptions {
  /** `auto` (default): kernel module if present, else wireguard-go. `always`: wireguard-go. `never`: kernel only. */
  userspace: UserspaceMode;
  /** wireguard-go binary (default `wireguard-go`, found on PATH). */
  wireguardGoPath: string;
  /** wg binary from wireguard-tools (default `wg`). */
  wgPath: string;
  /** ip binary from iproute2 (default `ip`). */
  ipPath: string;
  /** Wait for wireguard-go's control socket, in ms (default 10 000). */
  userspaceStartTimeoutMs: number;
  /**
   * Routing table id, also used as the tunnel's fwmark, for exit-node (default) routes
   * (default 51820, as wg-quick). Must be unique per network namespace.
   */
  exitNodeTable: number;
}

/** Defaults of {@link WireguardOptions}. */
export const DEFAULT_OPTIONS: Readonly<WireguardOptions> = Object.freeze({
  userspace: 'auto',
  wireguardGoPath: 'wireguard-go',
  wgPath: 'wg',
  ipPath: 'ip',
  userspaceStartTimeoutMs: 10_000,
  exitNodeTable: 51820,
});

/**
 * Merges `raw` over {@link DEFAULT_OPTIONS}.
 * @throws RustynetError `CONFIG_INVALID` (field `options.<name>`) for an unknown or ill-typed option.
 */
export function parseOptions(raw: Readonly<Record<string, unknown>> | undefined): WireguardOptions {
  const out: WireguardOptions = { ...DEFAULT_OPTIONS };
  const bad = (name: string, msg: string): RustynetError =>
    new RustynetError('CONFIG_INVALID', `options.${name}: ${msg}`, { field: `options.${name}` });
  for (const [name, value] of Object.entries(raw ?? {})) {
    switch (name) {
      case 'userspace':
        if (value !== 'auto' && value !== 'always' && value !== 'never') throw bad(name, 'must be "auto", "always" or "never"');
        out.userspace = value;
        break;
      case 'wireguardGoPath':
      case 'wgPath':
      case 'ipPath':
        if (typeof value !== 'string' || value.length === 0) throw bad(name, 'must be a non-empty string');
        out[name] = value;
        break;
      case 'userspaceStartTimeoutMs':
        if (typeof value !== 'number' || !Number.isInteger(value) || value < 100 || value > 120_000) {
          throw bad(name, 'must be an integer between 100 and 120000');
        }
        out.userspaceStartTimeoutMs = value;
        break;
      case 'exitNodeTable':
        if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > 0xffffffff || (value >= 253 && value <= 255)) {
          throw bad(name, 'must be an integer 1..4294967295 other than 253, 254, 255 (reserved tables)');
        }
        out.exitNodeTable = value;
        break;
      default:
        throw bad(name, 'unknown option');
    }
  }
  return out;
}
