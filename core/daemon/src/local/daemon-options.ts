/** The options of the daemon beyond its config: what tests and embedders may inject. */
import type { HostServices } from '../container/containers.js';
import type { LocalAddressLookup } from '../dns/dns-controller.js';
import type { NetmapSource } from '../netmap/source.js';
import type { PeerPathSource } from '../path/path-source.js';
import type { ProbeTransportFactory } from './path-probing.js';

/** Options of `Daemon` beyond its config. */
export interface DaemonOptions {
  /** Use these services instead of creating them from the config (tests, embedding). */
  services?: HostServices;
  /** Directory package-name plugin specs are resolved from (default `process.cwd()`). */
  cwd?: string;
  /** Install the unhandled-rejection guard while running (default true). */
  processGuards?: boolean;
  /**
   * Overrides the path of each peer (tests, embedding). Default: the path controller when
   * `pathProbe` is configured, else every peer direct.
   */
  paths?: PeerPathSource;
  /** Creates the probe transport (default: UDP on `0.0.0.0:<pathProbe.port>`); tests pass fakes. */
  probeTransport?: ProbeTransportFactory;
  /**
   * Lists the IP addresses assigned in the daemon's network namespace (default:
   * `os.networkInterfaces()`); the DNS plugin listens on the node's mesh addresses found here.
   */
  localAddresses?: LocalAddressLookup;
  /**
   * Where signed netmaps come from, replacing the configured source. Required for
   * `netmap.control`: `rustynetd` passes a `ControlNetmapSource` (from `@rustynet/control/client`).
   */
  netmapSource?: NetmapSource;
  /**
   * Serves `POST /v1/rotate-keys` (`rustynet rotate-keys`): `rustynetd` passes it with
   * `netmap.control`. Absent: the daemon refuses with `UNSUPPORTED` (file flow; see local/rotate-keys.ts).
   */
  rotateKeys?: () => Promise<unknown>;
}
