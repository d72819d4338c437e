/**
 * @packageDocumentation
 * `@rustynet/daemon`: the backend-agnostic core of Rustynet. Composition root (plain components), plugin
 * loader, hooks (tapable), netmap trust (Ed25519 + RFC 8785, replay watermark), reconciler,
 * local API over a unix socket, metrics (prom-client) and a hash-chained audit log.
 *
 * Plugins are never imported statically: they arrive only through {@link loadPlugin}.
 */
// Services and DI
export { createHostServices, collectProcessMetrics, type HostServicesOptions } from './services/host-services.js';
export { createLogger, scrubSecrets, REDACT_PATHS, type LoggerOptions } from './services/logger.js';
export { ExecaCommandRunner, childEnv, CHILD_ENV_ALLOWLIST, OUTPUT_TAIL_BYTES } from './services/command-runner.js';
export { PromMetrics, PrefixedMetrics, PLUGIN_METRIC_PREFIX, type HostMetrics } from './services/metrics.js';
export { SystemClock } from './services/clock.js';
export { FileStateStore, atomicWriteFile, ensurePrivateDir } from './services/state-store.js';
export {
  KeyStore,
  generateEd25519KeyPair,
  writeKeyFile,
  readPrivateKeyFile,
  publicKeyFromPrivatePem,
  publicKeyFromRawB64,
  privateKeyFromPem,
  keyIdOf,
  type Ed25519KeyPair,
} from './services/key-store.js';
export { instrumentBackend } from './services/instrument.js';
export { createPluginContext, sanitizePluginName, pluginStateDir, type HostServices, type PluginGrant } from './container/containers.js';

// Tracing (OpenTelemetry SDK, loaded only when configured)
export {
  startTracing,
  resolveTracing,
  tracesUrl,
  tracingConfigSchema,
  type TracingConfig,
  type TracingHandle,
  type ResolvedTracing,
  type StartTracingOptions,
  type TracingEnv,
} from './tracing/tracing-sdk.js';

// Loader
export { loadPlugin, validatePluginOptions, type LoadedPlugin, type LoadPluginOptions } from './loader/load-plugin.js';
export { readManifest, validateManifestObject } from './loader/manifest.js';
export { resolvePluginDir, isPathSpec } from './loader/resolve.js';

// Hooks
export { DaemonHooks, type DaemonHooksOptions, type HookFailure, type NetmapVeto } from './hooks/daemon-hooks.js';
export {
  HookTimeline,
  DEFAULT_TIMELINE_SIZE,
  type HookName,
  type HookTimelineEntry,
  type TapOutcome,
} from './hooks/timeline-interceptor.js';
export { withDeadline, DEFAULT_HOOK_DEADLINE_MS } from './hooks/deadline.js';

// Trust
export { signNetmap, netmapSigningBytes } from './trust/sign.js';
export {
  verifySignedNetmap,
  verifySignedNetmapBytes,
  checkNetmapContent,
  ISSUED_AT_SKEW_MS,
  type VerifyOptions,
  type VerifiedNetmap,
  type KeyResolver,
} from './trust/verify.js';
export { checkNetmapSemantics } from './trust/semantic.js';
export { NetmapWatermark, WATERMARK_KEY, type Watermark } from './trust/watermark.js';
export { NetmapTrust, LAST_GOOD_KEY, type TrustedNetmap } from './trust/netmap-trust.js';
export { ControlKeySet, CONTROL_KEYS_STATE, type PersistedControlKeys, type TrustedKey, type KeySetChange } from './trust/key-set.js';
export {
  signNetmapDelta,
  verifySignedNetmapDelta,
  applySignedNetmapDelta,
  verifyDeltaDerived,
  isDeltaDerived,
  type DeltaDerivedNetmap,
  type AppliedDelta,
} from './trust/delta-trust.js';
export { applyNetmapDelta, computeNetmapDelta, netmapDigest, isDeltaEnvelope } from './netmap/delta.js';
export { FileDeltaNetmapSource } from './netmap/file-delta-source.js';
export {
  AuditLog,
  auditHeadPathOf,
  AUDIT_GENESIS,
  auditRecordHash,
  type AuditRecord,
  type AuditEventType,
  type AuditStartupCheck,
} from './audit/audit-log.js';
export { verifyAuditLog, type AuditVerification, type VerifyAuditOptions } from './audit/audit-verify.js';
export {
  signAuditHead,
  readAuditHead,
  checkAuditHeadSignature,
  AUDIT_HEAD_SIGNING_CONTEXT,
  type AuditHead,
  type AuditSigner,
} from './audit/audit-head.js';

// Reconciler
export {
  computeDesiredState,
  createPeerKeyValidator,
  validatePeerKeys,
  routeKey,
  type DesiredState,
  type DesiredStateInput,
  type ExcludedRoute,
  type PeerKeyValidator,
  type RouteCapabilities,
  type SkippedPrefix,
} from './reconciler/desired-state.js';
export { diffPeers, diffRoutes, peerConfigEqual, emptyActualState, type ActualState } from './reconciler/diff.js';
export {
  buildPlan,
  isEmptyPlan,
  invertPeerBatch,
  invertRouteChange,
  policyInputFrom,
  dnsZoneFrom,
  dnsDesiredFrom,
  type Plan,
  type FullDesiredState,
  type DnsDesired,
  type PeerPathInfo,
  type PeerPaths,
} from './reconciler/plan.js';
export { applyPlan, applyDnsStep, type ApplyTargets, type ApplyStep, type ApplyOutcome, type DnsTarget } from './reconciler/apply.js';
export {
  Reconciler,
  type ReconcilerOptions,
  type ReconcileResult,
  type InterfaceReader,
  type InterfacesInput,
} from './reconciler/reconciler.js';
export {
  DnsController,
  systemLocalAddresses,
  ipKey,
  DNS_LOOPBACK,
  type DnsControllerOptions,
  type DnsStatus,
  type LocalAddressLookup,
} from './dns/dns-controller.js';

// Config, netmap source, API, daemon
export {
  daemonConfigSchema,
  type ControlSourceConfig,
  type DaemonConfig,
  type MetricsConfig,
  type NetmapSourceConfig,
  type PathProbeConfig,
  type PluginEntryConfig,
} from './config/schema.js';
export { loadDaemonConfig, validateDaemonConfig } from './config/load.js';
export { DEFAULT_NETMAP_MAX_BYTES, FileNetmapSource, UrlNetmapSource, type NetmapSource, type NetmapFetch } from './netmap/source.js';
export { LocalApi, localApiRequest, type LocalApiHandlers, type LocalApiResponse } from './api/local-api.js';
export { DIRECT_PATHS, type PeerPathSource } from './path/path-source.js';
export {
  encodeProbe,
  encodeProbeBody,
  decodeProbe,
  verifyProbe,
  probeSigner,
  probeSigningBytes,
  PROBE_MAGIC,
  PROBE_VERSION,
  PROBE_TYPE,
  PROBE_NONCE_BYTES,
  PROBE_SIGNATURE_BYTES,
  PROBE_FIXED_BYTES,
  PROBE_MIN_BYTES,
  PROBE_MAX_BYTES,
  PROBE_SIGNING_CONTEXT,
  type ProbeMessage,
  type ProbeFields,
  type ProbeType,
  type ProbeDecodeError,
} from './path/probe-protocol.js';
export { UdpProbeTransport, type ProbeTransport, type UdpProbeTransportOptions } from './path/probe-transport.js';
export {
  DirectPathProber,
  DEFAULT_PROBE_MAX_SKEW_MS,
  DEFAULT_PROBE_VERIFY_BURST,
  DEFAULT_PROBE_VERIFY_RATE,
  type ProbePeer,
  type ProbeResult,
  type ProbeDropReason,
  type ProberOptions,
} from './path/prober.js';
export { PathSwitcher, type SwitchView } from './path/path-switcher.js';
export { createPathMetrics, type PathMetrics } from './path/path-types.js';
export {
  PathController,
  DEFAULT_PROBE_INTERVAL_MS,
  DEFAULT_FAILURES_TO_RELAY,
  DEFAULT_SUCCESSES_TO_DIRECT,
  MAX_SWITCH_BACKOFF_MS,
  type PathControllerOptions,
  type PathProber,
  type PathSwitch,
  type PeerPathState,
} from './path/path-controller.js';
export { TokenBucket } from './path/token-bucket.js';
export { installProcessGuards, installSignalHandlers } from './process-guards.js';
export { Daemon, type DaemonOptions, type IngestResult } from './daemon.js';

// The daemon's parts (src/local/) and its status document
export type {
  AuditStatus,
  DaemonState,
  DaemonStatus,
  PeerStatus,
  PluginInfo,
  PolicyStatus,
  BackendStatus,
  StatusError,
  ExitStatus,
  ControlRefusal,
  ControlStatus,
} from './local/status-types.js';
export { daemonStatusSchema, isDaemonStatus, parseDaemonStatus } from './local/status-schema.js';
export { createDaemonMetrics, type DaemonMetrics } from './local/metrics.js';
export { PluginSet, type KindPlugin, type PluginSetOptions, type SwitchCapabilities } from './local/plugin-set.js';
export { createSession, type Session, type SessionInputs } from './local/session.js';
export { Ingest, NodeState, type IngestDeps } from './local/ingest.js';
export { DataPlane, type DataPlaneDeps, type RunningDataPlane } from './local/data-plane.js';
export {
  RelayClient,
  RELAY_RETRY_INITIAL_MS,
  RELAY_RETRY_MAX_MS,
  RELAY_RETRY_TIMEOUT_MS,
  type RelayClientOptions,
} from './local/relay-client.js';
export {
  PathProbing,
  peerPathsFor,
  pathSourceOf,
  checkSelfProbe,
  type PathProbingDeps,
  type ProbeTransportFactory,
} from './local/path-probing.js';
export { buildStatus, statusWithoutSession, STATUS_STATS_TIMEOUT_MS, type StatusSources } from './local/status.js';
export { createComponents, type DaemonComponents } from './container/components.js';
export { checkDaemonConfig, type ConfigCheck } from './config/check.js';
export { startOpsHttpServer, OPS_DEFAULT_HOST, type OpsHttpHandlers, type OpsHttpServer, type HealthVerdict } from './api/ops-http.js';
export { DaemonOps, healthOf, readinessOf, probeViewOf, type DaemonOpsSources, type ProbeView } from './local/ops-endpoint.js';
export { PeerMetrics, DEFAULT_PEER_LABEL_LIMIT, OTHER_PEERS_LABEL } from './local/peer-metrics.js';
export {
  findNode,
  diagnosticPing,
  DEFAULT_PING_TIMEOUT_MS,
  MAX_PING_TIMEOUT_MS,
  type PingResult,
  type AuditReport,
} from './local/diagnostics.js';
