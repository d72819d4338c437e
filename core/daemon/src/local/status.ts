import { formatEndpoint, type GatewayInput, type Logger, type PeerStats } from '@rustynet/plugin-api';
import type { DnsController } from '../dns/dns-controller.js';
import type { PeerPathSource } from '../path/path-source.js';
import type { Reconciler } from '../reconciler/reconciler.js';
import { toRustynetError } from '../util/errors.js';
import type { DataPlane } from './data-plane.js';
import type { NodeState } from './ingest.js';
import type { PluginSet } from './plugin-set.js';
import type { NetmapSource } from '../netmap/source.js';
import type { AuditStartupCheck } from '../audit/audit-log.js';
import {
  EXIT_DOWN_AFTER_S,
  type AuditStatus,
  type DataPlaneHealth,
  type DaemonStatus,
  type ExitStatus,
  type PeerStatus,
} from './status-types.js';

/** Deadline of the backend `stats()` call made for a status document, ms. */
export const STATUS_STATS_TIMEOUT_MS = 5_000;

/** What a status document is built from. */
export interface StatusSources {
  node: string;
  state: NodeState;
  plugins: PluginSet;
  dataPlane: DataPlane;
  reconciler: Reconciler;
  dns: DnsController | undefined;
  paths: PeerPathSource;
  /** The data plane's health (the watchdog's view). */
  health: DataPlaneHealth;
  /** The audit log's start-up check. */
  auditCheck: AuditStartupCheck;
  logger: Logger;
  /** The netmap source: its `controlStatus()`, when it has one, is the status's `control`. */
  source?: NetmapSource;
}

/** The status view of the audit log's start-up check: outcome, time, and where and why it broke. */
export function auditStatusOf(check: AuditStartupCheck): AuditStatus {
  const v = check.verification;
  return {
    ok: v.ok,
    checkedAt: check.at,
    ...(v.brokenAt !== undefined && { brokenAt: v.brokenAt }),
    ...(v.reason !== undefined && { reason: v.reason }),
  };
}

/**
 * The status document (`GET /v1/status`): asks the backend for live peer stats (a failure is
 * logged and the recorded state is shown), and reads everything else from the parts' state.
 */
export async function buildStatus(src: StatusSources): Promise<DaemonStatus> {
  const { state, dataPlane, plugins } = src;
  const current = state.current;
  const running = dataPlane.running;
  let stats: PeerStats[] = [];
  let interfaces = running ? [...src.reconciler.interfaces] : [];
  if (running) {
    try {
      const s = await plugins.backend.instance.stats({ timeoutMs: STATUS_STATS_TIMEOUT_MS });
      stats = s.peers;
      interfaces = [...new Set(s.interfaces)].sort();
    } catch (err) {
      src.logger.warn({ err: toRustynetError(err).message }, 'backend stats failed');
    }
  }
  const byId = new Map(stats.map((s) => [s.id, s]));
  const peers: PeerStatus[] = running
    ? [...src.reconciler.actual.peers.values()].map((p) => {
        const s = byId.get(p.id);
        const ep = s?.endpoint ?? p.endpoint;
        return {
          id: p.id,
          endpoint: ep ? formatEndpoint(ep) : null,
          path: src.paths.pathFor(p.id),
          allowedIps: [...p.allowedIps],
          lastHandshakeAt: s?.lastHandshakeAt ? new Date(s.lastHandshakeAt).toISOString() : null,
          rxBytes: s?.rxBytes ?? 0,
          txBytes: s?.txBytes ?? 0,
        };
      })
    : [];
  const b = plugins.backend.loaded;
  return {
    node: src.node,
    state: state.state,
    addresses: [...(current?.trusted.netmap.nodes.find((n) => n.id === src.node)?.addresses ?? [])],
    netmap: current
      ? {
          version: current.trusted.netmap.version,
          appliedAt: new Date(current.appliedAt).toISOString(),
          expiresAt: current.trusted.netmap.expiresAt,
          expired: Date.parse(current.trusted.netmap.expiresAt) <= Date.now(),
        }
      : null,
    lastRejection: state.lastRejection,
    backend: {
      name: b.manifest.name,
      version: b.manifest.version,
      apiVersion: b.apiVersion,
      interfaces,
      listenPort: running?.listenPort ?? null,
    },
    peers,
    plugins: plugins.infos(),
    policy: dataPlane.policyStatus(),
    dns: src.dns?.status() ?? null,
    dataPlane: src.health,
    audit: auditStatusOf(src.auditCheck),
    exit: exitStatus(src, peers),
    ...(src.source?.controlStatus && { control: src.source.controlStatus() }),
    ...relayHealth(src),
  };
}

/** `relays` of the status: the relay plugin's view of each relay, when it reports one. */
function relayHealth(src: StatusSources): Pick<DaemonStatus, 'relays'> {
  const relay = src.plugins.relay?.instance;
  if (typeof relay?.relays !== 'function') return {};
  try {
    return { relays: relay.relays() };
  } catch (err) {
    src.logger.warn({ err: toRustynetError(err).message }, 'relay health failed');
    return {};
  }
}

/** {@link ExitStatus} from the reconciler's gateway input for the applied netmap and the peers' handshakes. */
function exitStatus(src: StatusSources, peers: PeerStatus[]): ExitStatus | null {
  const netmap = src.state.current?.trusted.netmap;
  const gw = netmap && src.dataPlane.running ? src.reconciler.gatewayFor(netmap, src.node) : undefined;
  return exitStatusOf(gw, src.reconciler.exitNode ?? null, peers, Date.now());
}

/**
 * Pure: the status `exit` object. The kill switch is `blocking` when it is armed and the exit
 * peer is missing or its last handshake is older than {@link EXIT_DOWN_AFTER_S}; `armed` with a
 * fresh handshake or none reported yet.
 * @param now ms since the epoch.
 */
export function exitStatusOf(
  gw: GatewayInput | undefined,
  node: string | null,
  peers: readonly PeerStatus[],
  now: number,
): ExitStatus | null {
  if (!gw) return null;
  const peer = node === null ? undefined : peers.find((p) => p.id === node);
  const hs = peer?.lastHandshakeAt ?? null;
  const down = peer === undefined || (hs !== null && now - Date.parse(hs) > EXIT_DOWN_AFTER_S * 1000);
  return {
    node,
    serving: gw.serve !== undefined,
    killSwitch: gw.killSwitch ? (down ? 'blocking' : 'armed') : 'off',
    lanAccess: gw.killSwitch?.lanAccess ?? false,
    lastHandshakeAt: hs,
  };
}

/** The status document before `start` loaded the plugins (or after it failed to). */
export function statusWithoutSession(node: string, state: NodeState): DaemonStatus {
  return {
    node,
    state: state.state,
    addresses: [],
    netmap: null,
    lastRejection: state.lastRejection,
    backend: null,
    peers: [],
    plugins: [],
    policy: null,
    dns: null,
    exit: null,
    dataPlane: { state: 'ok', reason: null, restores: { ok: 0, failed: 0 }, lastRestore: null },
  };
}
