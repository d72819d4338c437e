/**
 * The local API's status document (`GET /v1/status`): the one definition, shared by the daemon
 * (which builds it) and the CLI (which validates it with {@link daemonStatusSchema} from
 * `./status-schema.js`). Type-only: importing it loads nothing.
 */

/**
 * Life-cycle state reported in status. `expired`: the applied netmap passed its `expiresAt` with
 * no fresher one; the daemon failed closed (data plane stopped: no tunnel, no peers) until a fresh
 * map arrives.
 */
export type DaemonState = 'up' | 'down' | 'starting' | 'failed' | 'expired';

/** A failure as status reports it (`at`: ISO 8601 time). */
export interface StatusError {
  code: string;
  message: string;
  at: string;
}

/** A plugin as listed by `GET /v1/plugins` and in status. */
export interface PluginInfo {
  name: string;
  version: string;
  kind: string;
  apiVersion: string;
  /** Run-time capabilities (the manifest's claim when the plugin's report throws). */
  capabilities: Record<string, unknown>;
}

/** One peer in status. */
export interface PeerStatus {
  id: string;
  /** `host:port` (IPv6 bracketed) or null. */
  endpoint: string | null;
  path: 'direct' | 'relay';
  allowedIps: string[];
  /** ISO time of the last handshake, or null. */
  lastHandshakeAt: string | null;
  /** Bytes received from / sent to the peer. */
  rxBytes: number;
  txBytes: number;
}

/** DNS state shown in the daemon's status. */
export interface DnsStatus {
  /** `host:port` endpoints the DNS plugin listens on; empty while it is not running. */
  listen: string[];
  /** True when the listeners and the served zone match what is wanted. */
  ok: boolean;
  /** The latest failure (start or update), or null. Kept after recovery, with `ok` true again. */
  lastError: StatusError | null;
  /** Failures since the daemon started. */
  failures: number;
}

/** The policy plugin's state in status. */
export interface PolicyStatus {
  /** The tunnel interfaces the applied policy covers. */
  interfaces: string[];
  /** False while re-applying the policy for changed interfaces fails (the old policy stays). */
  ok: boolean;
  lastError: StatusError | null;
  /** Failed re-applies since the daemon started. */
  failures: number;
}

/** The backend in status. */
export interface BackendStatus {
  name: string;
  version: string;
  apiVersion: string;
  /** The backend's tunnel interfaces (sorted). */
  interfaces: string[];
  /** UDP/TCP port the backend listens on, or null (not running, or none). */
  listenPort: number | null;
}

/**
 * The data plane's health as the daemon's watchdog sees it (see `docs/operations/faults.md`):
 * - `ok`: the backend answers its health reads (or nothing runs);
 * - `degraded`: a fault was noticed (`reason`), a restore is due or waits for its back-off, or
 *   the backend reported a fault it heals itself;
 * - `restoring`: the whole desired state is being restored (stop, start, peers, routes, policy, DNS).
 */
export interface DataPlaneHealth {
  state: 'ok' | 'degraded' | 'restoring';
  /** The latest fault or failed restore (kept after recovery, with `state` `ok` again), or null. */
  reason: StatusError | null;
  /** Restore attempts since the daemon started, by result. */
  restores: { ok: number; failed: number };
  /** The latest restore attempt (`at`: ISO start time; `durationMs`: ms; `attempt`: from 1), or null. */
  lastRestore: { at: string; result: 'ok' | 'failed'; durationMs: number; attempt: number } | null;
}

/**
 * The audit log's start-up tamper check as status shows it (see docs/operations/diagnostics.md;
 * `rustynet audit status` shows the full report): the hash chain and the signed head were
 * verified when the daemon started.
 */
export interface AuditStatus {
  /** False when the log or its signed head did not verify; the broken log was moved aside. */
  ok: boolean;
  /** ISO time of the check. */
  checkedAt: string;
  /** 1-based line of the first bad record (the head's `seq` + 1 on truncation), when known. */
  brokenAt?: number;
  /** Why the check failed. */
  reason?: string;
}

/** `GET /v1/status`. */
export interface DaemonStatus {
  node: string;
  state: DaemonState;
  /**
   * This node's own mesh addresses (CIDR, from the applied netmap's entry for `node`); empty
   * before a netmap is applied. Always sent by this daemon; optional so that a status of an older
   * daemon still reads.
   */
  addresses?: string[];
  /**
   * The applied netmap (`appliedAt`, `expiresAt`: ISO times), or null. `expired` (absent from
   * daemons before it was added): `expiresAt` has passed and no fresher map arrived.
   */
  netmap: { version: number; appliedAt: string; expiresAt: string; expired?: boolean } | null;
  /** The last rejected netmap or failed apply, or null. */
  lastRejection: StatusError | null;
  backend: BackendStatus | null;
  peers: PeerStatus[];
  plugins: PluginInfo[];
  /**
   * The policy plugin's state (null without one): the tunnel interfaces its applied policy
   * covers, and failures to re-apply it when the backend's interfaces changed between applies.
   */
  policy: PolicyStatus | null;
  /** The DNS plugin's listeners and failures (null without one). DNS failures never fail an apply. */
  dns: DnsStatus | null;
  /**
   * The data plane's health: faults noticed, restores and why (see {@link DataPlaneHealth}).
   * Always sent by this daemon; optional so that a status of an older daemon still reads.
   */
  dataPlane?: DataPlaneHealth;
  /**
   * The audit log's start-up tamper check (see {@link AuditStatus}). Sent once the daemon's state
   * directory is open; optional so that a status of an older daemon still reads.
   */
  audit?: AuditStatus;
  /**
   * Exit-node state (see docs/exit-nodes.md); null when this node neither serves nor uses an
   * exit node, or the policy plugin lacks the `gateway` capability. Optional so that a status of
   * an older daemon still reads.
   */
  exit?: ExitStatus | null;
  /**
   * The relays of the netmap as the relay plugin sees them: health, smoothed RTT (ms, null before
   * the first answer) and which one is home (docs/relay.md, "Several relays"). Absent without a
   * relay plugin that reports it.
   */
  relays?: Array<{ id: string; region?: string; registered: boolean; healthy: boolean; rttMs: number | null; home: boolean }>;
  /**
   * This node's standing with the control plane (see {@link ControlStatus}); absent when the
   * netmap does not come from a control plane, and from daemons before it was added.
   */
  control?: ControlStatus;
}

/**
 * Why the control plane refuses this node's polls, and what brings it back (`DaemonStatus.control`):
 * - `node-key-expired`: its keys passed the node key lifetime (`rustynet control serve --node-key-lifetime`);
 * - `node-expired`: an admin expired it;
 * - `node-removed`: an admin removed it.
 * The node keeps its last good netmap until that expires, then fails closed.
 */
export interface ControlRefusal {
  reason: 'node-key-expired' | 'node-expired' | 'node-removed';
  /** The control plane's message (names the node and, for key expiry, when its keys expired). */
  message: string;
  /** ISO time of the first refusal of this kind in a row. */
  since: string;
  /** What the operator does (see docs/operations/key-rotation.md, "Node key expiry"). */
  action: string;
}

/** `DaemonStatus.control`: this node's standing with the control plane (`netmap.control` only). */
export interface ControlStatus {
  /** Set while the control plane refuses this node (see {@link ControlRefusal}); null otherwise. */
  refusal: ControlRefusal | null;
}

/** `DaemonStatus.exit`. */
export interface ExitStatus {
  /** The exit node this node uses (`exitNode`), or null. */
  node: string | null;
  /** This node serves as an exit node: forwards and NATs its peers' IPv4 traffic. */
  serving: boolean;
  /**
   * The kill switch: `off` (no exit node used), `armed` (traffic leaves only through the tunnel;
   * the exit peer had a handshake within {@link EXIT_DOWN_AFTER_S} s, or the backend reports
   * none), `blocking` (armed, and the exit peer had no handshake within that time: off-mesh
   * traffic is being dropped instead of leaking to the underlay).
   */
  killSwitch: 'off' | 'armed' | 'blocking';
  /** Directly connected subnets stay reachable outside the tunnel (`exitLanAccess`). */
  lanAccess: boolean;
  /** Last handshake with the exit peer (ISO time), or null (none yet, or not reported). */
  lastHandshakeAt: string | null;
}

/** Seconds without a handshake after which the exit peer counts as down (180 s: more than one 2-minute rekey interval). */
export const EXIT_DOWN_AFTER_S = 180;
