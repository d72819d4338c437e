/** How the WireGuard device is provided. */
export type UserspaceMode = 'auto' | 'always' | 'never';

/**
 * The plugin's options (`backend.options` in the daemon config), as described by the manifest's
 * `configSchema`. The host validates them with that schema and fills its defaults.
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
 * The plugin's options: `raw` over {@link DEFAULT_OPTIONS}. The daemon's loader has already
 * validated `raw` against the manifest's `configSchema` (ajv, defaults filled in), which states
 * every rule (types, ranges, the reserved tables 253..255, no unknown keys); nothing is re-checked here.
 */
export function parseOptions(raw: Readonly<Record<string, unknown>> | undefined): WireguardOptions {
  return { ...DEFAULT_OPTIONS, ...(raw as Partial<WireguardOptions> | undefined) };
}
