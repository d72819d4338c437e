import type { Counter, Gauge, Histogram, Metrics } from '@rustynet/plugin-api';

/** The daemon's own metrics (names are part of the operator interface: never rename). */
export interface DaemonMetrics {
  /** `rustynet_netmap_version`: version of the applied netmap. */
  netmapVersion: Gauge;
  /** `rustynet_netmap_applies_total{result}`: `applied`, `noop` or `failed`. */
  applies: Counter;
  /** `rustynet_apply_duration_seconds`: duration of an apply, seconds. */
  applyDuration: Histogram;
  /** `rustynet_peers`: peers configured on the backend. */
  peers: Gauge;
  /** `rustynet_netmap_rejected_total{code}`. */
  rejected: Counter;
  /** `rustynet_netmap_deltas_total{result}`: signed deltas `applied` or refused (`fallback` to the full netmap). */
  deltas: Counter;
  /** `rustynet_hook_failures_total{plugin,hook}`. */
  hookFailures: Counter;
  /** `rustynet_backend_calls_total{method,outcome}`. */
  backendCalls: Counter;
  /** `rustynet_dns_failures_total{operation}`. */
  dnsFailures: Counter;
  /** `rustynet_policy_sync_failures_total`. */
  policySyncFailures: Counter;
  /** `rustynet_dataplane_faults_total{source}`: `backend` (reported by the backend) or `stats` (a failed health read). */
  dataPlaneFaults: Counter;
  /** `rustynet_dataplane_restores_total{result}`: `ok` or `failed`, one per restore attempt. */
  dataPlaneRestores: Counter;
}

/** Registers the daemon's metrics on the host metrics (idempotent per registry). */
export function createDaemonMetrics(m: Metrics): DaemonMetrics {
  return {
    netmapVersion: m.gauge('rustynet_netmap_version', 'Version of the applied netmap'),
    applies: m.counter('rustynet_netmap_applies_total', 'Netmap applies by result', ['result']),
    applyDuration: m.histogram(
      'rustynet_apply_duration_seconds',
      'Duration of a netmap apply in seconds',
      [],
      [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30],
    ),
    peers: m.gauge('rustynet_peers', 'Peers configured on the backend'),
    rejected: m.counter('rustynet_netmap_rejected_total', 'Netmaps rejected, by error code', ['code']),
    deltas: m.counter('rustynet_netmap_deltas_total', 'Signed netmap deltas by result (applied, fallback)', ['result']),
    hookFailures: m.counter('rustynet_hook_failures_total', 'Hook taps that threw or timed out', ['plugin', 'hook']),
    backendCalls: m.counter('rustynet_backend_calls_total', 'Backend plugin calls by method and outcome', ['method', 'outcome']),
    dnsFailures: m.counter('rustynet_dns_failures_total', 'DNS plugin start/update failures (the mesh stays up; retried every cycle)', [
      'operation',
    ]),
    policySyncFailures: m.counter(
      'rustynet_policy_sync_failures_total',
      "Failed policy re-applies after the backend's tunnel interfaces changed between applies",
    ),
    dataPlaneFaults: m.counter('rustynet_dataplane_faults_total', 'Data-plane faults noticed, by source (backend, stats)', ['source']),
    dataPlaneRestores: m.counter(
      'rustynet_dataplane_restores_total',
      'Restores of the whole desired state after a data-plane fault, by result (ok, failed)',
      ['result'],
    ),
  };
}
