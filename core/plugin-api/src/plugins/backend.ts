import type { CallOptions } from '../call-options.js';
import type { ErrorCode } from '../errors.js';
import type { BackendCapabilities } from '../types/capabilities.js';
import type { Cidr } from '../types/cidr.js';
import type { Endpoint } from '../types/endpoint.js';
import type { NodeId } from '../types/node-id.js';
import type { PeerBatch } from '../types/peer.js';
import type { RouteChange } from '../types/route.js';
import type { BackendStats } from '../types/stats.js';

/** Configuration for {@link BackendPlugin.start}. */
export interface BackendStartConfig {
  /** This node's id. */
  nodeId: NodeId;
  /** This node's overlay host addresses (`/32`, `/128`) to put on the tunnel device(s). */
  addresses: Cidr[];
  /** Underlay port to listen on; 0 lets the backend choose (see `stats().listenPort`). */
  listenPort: number;
  /** Tunnel MTU in bytes; absent means the backend's default. */
  mtu?: number;
  /**
   * Name of the tunnel device to create (at most 15 bytes, IFNAMSIZ - 1); a backend with one
   * device per peer uses it as a prefix. Hosts make it unique per machine.
   */
  interfaceName: string;
  /** Directory holding this node's key files as written by {@link BackendPlugin.generateKeyPair}. */
  keyDirectory: string;
  /**
   * Optional (API 1.x, additive): called by a running backend when its data plane fails on its
   * own, between calls, e.g. its data-plane process exited. The host (the daemon's watchdog)
   * then restores the whole desired state unless {@link BackendFault.selfHealing} says the
   * backend restores it itself. Never called for failures a call already reported by throwing,
   * nor after `stop` began. Must not throw; a backend must not wait on it. Backends that do not
   * report faults ignore it: the host also notices a failed `stats()`.
   */
  onFault?: (fault: BackendFault) => void;
}

/** A failure of a running backend's data plane, reported through {@link BackendStartConfig.onFault}. */
export interface BackendFault {
  /** Stable error code, normally `BACKEND_FAILED`. */
  code: ErrorCode;
  /** Human-readable cause, e.g. `data-plane process (pid 123) exited (signal SIGKILL)`. No secrets. */
  message: string;
  /**
   * True when the backend restores its data plane itself (e.g. restarts the dead process with
   * its config): the host records the fault but does not restart the backend. Default false.
   */
  selfHealing?: boolean;
  /** Structured context (pid, exit code, signal, device), no secrets. */
  details?: Record<string, unknown>;
}

/** Result of {@link BackendPlugin.generateKeyPair}. */
export interface BackendKeyPair {
  /** Public key material in the backend's opaque format (goes into the netmap under `keys[protocol]`). */
  publicKey: string;
  /** Absolute paths of the files written; private ones are mode 0600. */
  files: string[];
}

/** Run-time report of a backend; extends {@link BackendStats}. */
export interface BackendRuntimeStats extends BackendStats {
  /** The underlay port the backend listens on (for relays and diagnostics). */
  listenPort?: number;
}

/**
 * A backend moves encrypted packets between this node and its peers.
 *
 * Contract (checked by the conformance kit, `backend.*` tests):
 * - Every method but `capabilities`, `generateKeyPair` and `stop` fails with `NOT_RUNNING`
 *   before `start` and after `stop`; a second `start` fails with `ALREADY_RUNNING`; `stop` is
 *   idempotent; `start` after `stop` works.
 * - Calls are batched: one `applyPeers` with N peers must not cost N process spawns.
 * - Bad input (malformed key, bad CIDR, unknown or duplicate peer) fails with the documented
 *   code and changes nothing: the running state stays as it was.
 * - Private keys never appear on a command line, in a child's environment or in logs; key
 *   files are 0600.
 * - `stop` removes every device, route, address, process, socket and file the backend made.
 */
export interface BackendPlugin {
  /** Always `backend`. */
  readonly kind: 'backend';

  /** Run-time capabilities; must equal the manifest's. */
  capabilities(): BackendCapabilities;

  /**
   * Writes a new key pair for this backend into `directory` (created 0700 if missing).
   * Works without `start`.
   * @throws RustynetError `KEY_INVALID` if files exist already, `BACKEND_FAILED` otherwise.
   */
  generateKeyPair(directory: string, options?: CallOptions): Promise<BackendKeyPair>;

  /**
   * Reads the public key material of the key pair in `directory`.
   * @throws RustynetError `KEY_INVALID` when missing, malformed, or not mode 0600.
   */
  publicKey(directory: string, options?: CallOptions): Promise<string>;

  /**
   * Creates the tunnel device(s), sets addresses, MTU and listen port, loads the private key.
   * @throws RustynetError `ALREADY_RUNNING`, `INVALID_INPUT` (field named), `KEY_INVALID`,
   *   `PERMISSION_DENIED`, `BACKEND_FAILED` (with the tool's stderr in `details`).
   */
  start(config: BackendStartConfig, options?: CallOptions): Promise<void>;

  /** Removes everything `start` and later calls made. Idempotent; never throws `NOT_RUNNING`. */
  stop(options?: CallOptions): Promise<void>;

  /**
   * Applies one batch: upserts replace a peer's whole config; removals drop peers. The whole
   * batch is validated before anything changes.
   * @throws RustynetError `NOT_RUNNING`, `INVALID_INPUT` (bad key, CIDR, endpoint; field names
   *   the peer, e.g. `upsert[2].allowedIps[0]`), `DUPLICATE_PEER`, `UNKNOWN_PEER` (removal of a
   *   peer it does not have), `UNSUPPORTED` (e.g. IPv6 without the capability), `BACKEND_FAILED`.
   */
  applyPeers(batch: PeerBatch, options?: CallOptions): Promise<void>;

  /**
   * Fast path for the path controller: changes one peer's endpoint without touching the rest.
   * @throws RustynetError `NOT_RUNNING`, `UNKNOWN_PEER`, `INVALID_INPUT`, `UNSUPPORTED` (when
   *   `roaming` is not claimed), `BACKEND_FAILED`.
   */
  updatePeerEndpoint(peer: NodeId, endpoint: Endpoint, options?: CallOptions): Promise<void>;

  /**
   * Applies a route change in the kernel routing table of the node (removals first).
   * @throws RustynetError `NOT_RUNNING`, `INVALID_INPUT`, `UNKNOWN_PEER` (route via a peer it
   *   does not have), `UNSUPPORTED` (exit node / LAN routes without the capability),
   *   `BACKEND_FAILED`.
   */
  applyRoutes(change: RouteChange, options?: CallOptions): Promise<void>;

  /**
   * Per-peer counters, handshake times and current endpoints, from the data plane itself.
   * @throws RustynetError `NOT_RUNNING`, `BACKEND_FAILED`.
   */
  stats(options?: CallOptions): Promise<BackendRuntimeStats>;
}
