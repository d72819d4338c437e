import { join } from 'node:path';
import { DEFAULT_CALL_TIMEOUT_MS, RustynetError, type CallOptions, type Logger } from '@rustynet/plugin-api';
import { LocalApi, type LocalApiHandlers } from '../api/local-api.js';
import { AuditLog, type AuditStartupCheck } from '../audit/audit-log.js';
import type { DaemonConfig } from '../config/schema.js';
import { createComponents, type DaemonComponents } from '../container/components.js';
import type { HostServices } from '../container/containers.js';
import { DnsController, type LocalAddressLookup } from '../dns/dns-controller.js';
import { DaemonHooks } from '../hooks/daemon-hooks.js';
import { configuredNetmapSource } from '../netmap/configured-source.js';
import type { NetmapSource } from '../netmap/source.js';
import type { PathController } from '../path/path-controller.js';
import type { PeerPathSource } from '../path/path-source.js';
import { gatewaySettingsFrom } from '../reconciler/gateway.js';
import { Reconciler } from '../reconciler/reconciler.js';
import { ensurePrivateDir } from '../services/state-store.js';
import { NetmapTrust } from '../trust/netmap-trust.js';
import { toRustynetError } from '../util/errors.js';
import { DataPlane } from './data-plane.js';
import { Ingest, type NodeState } from './ingest.js';
import { createDaemonMetrics, type DaemonMetrics } from './metrics.js';
import { PathProbing, pathSourceOf, type ProbeTransportFactory } from './path-probing.js';
import { PluginSet } from './plugin-set.js';
import { RelayClient } from './relay-client.js';
import { DataPlaneWatchdog } from './watchdog.js';

/** What {@link createSession} needs besides the config. */
export interface SessionInputs {
  config: DaemonConfig;
  /** The host services (created from the config by the daemon unless given). */
  services: HostServices;
  /** The node's netmap state, owned by the daemon. */
  state: NodeState;
  /** The daemon's serialiser (path switches run in it). */
  serial: <T>(fn: () => Promise<T>) => Promise<T>;
  /** What the local API serves (the daemon's methods; they work before the session exists). */
  handlers: LocalApiHandlers;
  cwd?: string;
  paths?: PeerPathSource;
  probeTransport?: ProbeTransportFactory;
  localAddresses?: LocalAddressLookup;
  /** Netmap source replacing the configured one (required for `netmap.control`). */
  netmapSource?: NetmapSource;
  /**
   * Fires when the daemon stops: applies and plugin calls in progress abort at their next step.
   * Calls made after it fired (teardown, rollback) get no signal and a deadline of at most
   * {@link STOPPING_CALL_TIMEOUT_MS}.
   */
  signal?: AbortSignal;
}

/** Deadline of each plugin call made once the daemon is stopping (teardown), ms. */
export const STOPPING_CALL_TIMEOUT_MS = 2_000;

/**
 * Everything a started daemon runs with, built at once by {@link createSession}: no part is
 * optional except the plugins (and their controllers) the config does not ask for.
 */
export interface Session {
  components: DaemonComponents;
  logger: Logger;
  metrics: DaemonMetrics;
  hooks: DaemonHooks;
  audit: AuditLog;
  /** The audit log's start-up verification (see docs/operations/diagnostics.md). */
  auditCheck: AuditStartupCheck;
  trust: NetmapTrust;
  source: NetmapSource;
  api: LocalApi;
  plugins: PluginSet;
  reconciler: Reconciler;
  dns: DnsController | undefined;
  probing: PathProbing | undefined;
  dataPlane: DataPlane;
  ingest: Ingest;
  /** Data-plane health: notices a failed backend and restores the desired state. */
  watchdog: DataPlaneWatchdog;
  /** Each peer's path for status: the override, the path controller, or all direct. */
  paths: PeerPathSource;
}

/**
 * Builds and starts the session: state directory, trust, audit, hooks, netmap source, the local
 * API (listening), the identity key, the plugins (loaded, not started), the reconciler, DNS and
 * path probing, then the data plane and ingest around them. On failure everything built so far
 * is torn down (shutdown hook, plugins stopped, probe socket closed, API stopped).
 * @throws RustynetError `KEY_INVALID`, `CONFIG_INVALID`, any loader error, `BACKEND_FAILED` (probe port).
 */
export async function createSession(inp: SessionInputs): Promise<Session> {
  const cfg = inp.config;
  const components = createComponents(inp.services);
  const { logger: hostLogger, clock } = components;
  const logger = hostLogger.child({ component: 'daemon', node: cfg.node });
  const metrics = createDaemonMetrics(components.metrics);
  const timeoutMs = cfg.callTimeoutMs ?? DEFAULT_CALL_TIMEOUT_MS;
  const signal = inp.signal;
  const callOptions = (): CallOptions =>
    signal?.aborted ? { timeoutMs: Math.min(timeoutMs, STOPPING_CALL_TIMEOUT_MS) } : { timeoutMs, ...(signal && { signal }) };
  await ensurePrivateDir(components.stateDir);
  const trust = new NetmapTrust([cfg.controlPlaneKey, ...(cfg.controlPlaneKeys ?? [])], components.stateStore, clock);
  const audit = new AuditLog(join(components.stateDir, 'audit.log'), () => clock.now(), {
    onHeadError: (err) => logger.error({ err: String(err) }, 'audit head write failed; the next record signs it'),
  });
  const hooks = new DaemonHooks({
    logger: hostLogger.child({ component: 'hooks' }),
    ...(cfg.hooks?.deadlineMs !== undefined && { deadlineMs: cfg.hooks.deadlineMs }),
    onFailure: (f) => metrics.hookFailures.inc({ plugin: f.plugin, hook: f.hook }),
  });
  const source = configuredNetmapSource(cfg.netmap, inp.netmapSource, (err) => logger.warn({ err: String(err) }, 'netmap fetch failed'));

  const api = new LocalApi(cfg.socket, inp.handlers, logger);

  let plugins: PluginSet | undefined;
  let probing: PathProbing | undefined;
  try {
    await api.start();
    if (cfg.identityKeyFile !== undefined) {
      await components.keyStore.loadIdentity(cfg.identityKeyFile);
      audit.attachSigner(cfg.node, components.keyStore);
    }
    const auditCheck = await checkAudit(audit, logger);
    plugins = await PluginSet.load(cfg, {
      services: components,
      hooks,
      backendCalls: metrics.backendCalls,
      ...(inp.cwd !== undefined && { cwd: inp.cwd }),
    });
    const loaded = plugins;
    const dns = loaded.dns
      ? new DnsController({
          plugin: loaded.dns.instance,
          port: loaded.dnsPort,
          ...(inp.localAddresses && { lookup: inp.localAddresses }),
          logger: logger.child({ component: 'dns', plugin: loaded.dns.loaded.manifest.name }),
          clock,
          failures: metrics.dnsFailures,
          callOptions,
        })
      : undefined;
    const reconciler = new Reconciler({
      backend: loaded.backend.instance,
      backendProtocol: loaded.protocol,
      peerKeySchema: loaded.peerKeySchema,
      ...(loaded.policy && { policy: loaded.policy.instance }),
      ...(dns && { dns }),
      hooks,
      ...(cfg.exitNode !== undefined && { exitNode: cfg.exitNode }),
      ...(loaded.policy?.instance.capabilities().gateway === true && { gateway: gatewaySettingsFrom(cfg) }),
      ...(cfg.backend.persistentKeepalive !== undefined && { persistentKeepalive: cfg.backend.persistentKeepalive }),
      capabilities: loaded.routeCaps,
      ...(cfg.callTimeoutMs !== undefined && { callTimeoutMs: cfg.callTimeoutMs }),
      ...(signal && { signal }),
      logger: logger.child({ component: 'reconciler' }),
    });
    // The data plane and path probing need each other (the controller asks the backend endpoint;
    // the data plane drives the controller): the controller gets the endpoint through this seam.
    const late: { dataPlane?: DataPlane; watchdog?: DataPlaneWatchdog } = {};
    probing = await PathProbing.create({
      config: cfg,
      services: components,
      plugins: loaded,
      hooks,
      sign: (data) => components.keyStore.sign(data),
      backendEndpoint: async (peer) => late.dataPlane?.backendEndpoint(peer),
      onEndpointChanged: (peer, ep) => reconciler.noteEndpoint(peer, ep),
      serial: inp.serial,
      onSwitch: async (sw) => {
        await audit.append('path.switch', { ...sw });
      },
      callTimeoutMs: () => cfg.callTimeoutMs ?? DEFAULT_CALL_TIMEOUT_MS,
      ...(inp.probeTransport && { bind: inp.probeTransport }),
    });
    const path: PathController | undefined = probing?.controller;
    const relay = loaded.relay
      ? new RelayClient(loaded.relay, {
          nodeId: cfg.node,
          sign: (challenge) => components.keyStore.sign(challenge),
          path,
          switchingUnsupported: probing?.switchingUnsupported,
          clock,
          logger,
          callOptions,
        })
      : undefined;
    // The watchdog needs the data plane and ingest; the backend reports to it through this seam.
    const dataPlane = new DataPlane({
      onFault: (fault) => late.watchdog?.report(fault),
      config: cfg,
      plugins: loaded,
      reconciler,
      dns,
      relay,
      path,
      pathOverride: inp.paths,
      metrics,
      clock,
      logger,
      callOptions,
    });
    const ingest = new Ingest({
      node: cfg.node,
      probePort: cfg.pathProbe?.port,
      identityKey: () => components.keyStore.publicKey(),
      state: inp.state,
      trust,
      source,
      hooks,
      dataPlane,
      audit,
      metrics,
      clock,
      logger,
    });
    late.dataPlane = dataPlane;
    const watchdog = new DataPlaneWatchdog({
      clock,
      logger: logger.child({ component: 'watchdog' }),
      faults: metrics.dataPlaneFaults,
      restores: metrics.dataPlaneRestores,
      audit: (kind, data) => audit.append(kind, data),
      serial: inp.serial,
      wanted: () => inp.state.state === 'up' && inp.state.current !== undefined,
      probe: async () => {
        if (!dataPlane.running) throw new RustynetError('NOT_RUNNING', 'the data plane is not running');
        await loaded.backend.instance.stats(callOptions());
      },
      restore: () => ingest.restore(),
    });
    late.watchdog = watchdog;
    const session: Session = {
      components,
      logger,
      metrics,
      hooks,
      audit,
      auditCheck,
      trust,
      source,
      api,
      plugins: loaded,
      reconciler,
      dns,
      probing,
      dataPlane,
      ingest,
      watchdog,
      paths: pathSourceOf(inp.paths, path),
    };
    await audit.append('daemon.start', { node: cfg.node, plugins: loaded.all.map((p) => `${p.manifest.name}@${p.manifest.version}`) });
    return session;
  } catch (err) {
    inp.state.state = 'failed';
    const e = toRustynetError(err);
    logger.error({ code: e.code, err: e.message }, 'daemon start failed');
    await hooks.runShutdown().catch(() => undefined);
    if (plugins) await stopLoaded(plugins, logger, callOptions);
    await probing?.transport.close().catch(() => undefined);
    await api.stop().catch((e2: unknown) => logger.error({ err: String(e2) }, 'local API stop failed'));
    await audit.append('daemon.stop', {}).catch(() => undefined);
    logger.info('daemon stopped');
    throw err;
  }
}

/**
 * The audit log's start-up check. A broken log does not stop the daemon (refusing to start would
 * turn tampering with a log file into a denial of service of the mesh): it is logged at error
 * level, moved aside as evidence, a new chain segment begins, and `GET /v1/audit` reports it.
 */
async function checkAudit(audit: AuditLog, logger: Logger): Promise<AuditStartupCheck> {
  let check: AuditStartupCheck;
  try {
    check = await audit.checkAtStartup();
  } catch (err) {
    // An I/O error (unreadable log, a rename refused) is reported like a failed check; appends
    // will report their own errors.
    const reason = `the audit log could not be checked: ${toRustynetError(err).message}`;
    check = { at: new Date().toISOString(), verification: { ok: false, records: 0, reason, signed: false, unsignedTail: 0 } };
  }
  const v = check.verification;
  if (v.ok) {
    logger.info({ records: v.records, signed: v.signed, unsignedTail: v.unsignedTail }, 'audit log verified');
  } else {
    logger.error(
      { code: 'AUDIT_TAMPERED', brokenAt: v.brokenAt, reason: v.reason, movedTo: check.movedTo?.log },
      'AUDIT LOG TAMPERED OR DAMAGED: the log does not match its signed head; it was moved aside and a new chain segment begins',
    );
  }
  return check;
}

/** Stops loaded plugins in reverse order (relay, dns, policy, backend); errors are logged. */
async function stopLoaded(plugins: PluginSet, logger: Logger, callOptions: () => CallOptions): Promise<void> {
  for (const [name, p] of [
    ['relay', plugins.relay?.instance],
    ['dns', plugins.dns?.instance],
    ['policy', plugins.policy?.instance],
    ['backend', plugins.backend.instance],
  ] as const) {
    if (!p) continue;
    await p
      .stop(callOptions())
      .catch((err: unknown) => logger.error({ plugin: name, err: toRustynetError(err).message }, 'plugin stop failed'));
  }
}
