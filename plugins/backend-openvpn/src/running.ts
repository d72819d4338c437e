/** What a running OpenVPN backend holds. */
import type { BackendStartConfig } from '@rustynet/plugin-api';
import type { LoadedKeyPair } from './keys.js';
import type { OpenVpnInstance } from './instance.js';
import type { ValidPeer, ValidStart } from './validate.js';

/** One peer: its validated config, device index and name, and its supervised openvpn process. */
export interface PeerEntry {
  peer: ValidPeer;
  index: number;
  device: string;
  instance: OpenVpnInstance;
}

/** A route added through applyRoutes. */
export interface RouteEntry {
  peer: string;
  family: 4 | 6;
  /** A default route, kept in the exit table. */
  exit: boolean;
}

/** The state of a started backend. */
export interface Running {
  v: ValidStart;
  keys: LoadedKeyPair;
  configDir: string;
  socketDir: string;
  /** True when socketDir lies outside the state dir and must be removed on stop. */
  ownSocketDir: boolean;
  peers: Map<string, PeerEntry>;
  /** Routes added through applyRoutes: destination -> route. */
  routes: Map<string, RouteEntry>;
  /** Families whose exit-route policy rules are installed. */
  exitRules: Set<4 | 6>;
  /** The host's fault callback from the start config, if any. */
  onFault?: BackendStartConfig['onFault'];
}
