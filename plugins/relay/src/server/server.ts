/**
 * The relay server: a UDP socket around {@link RelayCore}, with the allowlist taken either from
 * the caller or from a signed netmap file (verified by an injected `verifySignedNetmap`, so this
 * package does not depend on the daemon), timers for session expiry, netmap re-reads and metrics.
 */
import { createSocket, type Socket } from 'node:dgram';
import { readFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { RustynetError, invalidInput, isRustynetError, type Counter, type Endpoint, type Logger, type Netmap } from '@rustynet/plugin-api';
import { parseStrictJson } from '@rustynet/plugin-kit';
import { checkBufferSize, checkEndpoint, deriveRelayId } from './server-options.js';
import { checkNetmapRelayKey, loadOrCreateRelayIdentity, type RelayIdentityKey } from './identity-key-file.js';
import { DROP_REASONS, RelayCore, parseIdentityKeys, resolveLimits, type RelayCounters } from './core.js';
import { zeroCounters } from './limits.js';
import { startKernelPath, type KernelPath } from './kernel-path.js';
import { TLS_ADDRESS_PREFIX, startTlsCarrier, type TlsCarrierServer } from '../carrier/tls-server.js';

/** Largest netmap file the relay server reads, in bytes (the daemon's default limit, 16 MiB). */
const NETMAP_MAX_BYTES = 16 * 1024 * 1024;

export type { VerifySignedNetmap, RelayNetmapSource, RelayServerOptions, RelayServerStats, RelayServer } from './server-types.js';
import type { RelayServer, RelayServerOptions, RelayServerStats } from './server-types.js';

const noopLogger: Logger = {
  trace() {},
  debug() {},
  info() {},
  warn() {},
  error() {},
  child() {
    return noopLogger;
  },
};

/**
 * Creates a relay server (not started). Validates every option first.
 * @throws RustynetError INVALID_INPUT naming the option.
 */
export function createRelayServer(opts: RelayServerOptions): RelayServer {
  if (typeof opts !== 'object' || opts === null) throw invalidInput('opts', 'must be an object');
  const listen = checkEndpoint(opts.listen, 'listen');
  if ((opts.identityKeys === undefined) === (opts.netmap === undefined)) {
    throw invalidInput('identityKeys', 'give exactly one of identityKeys and netmap');
  }
  if (opts.identityKeys !== undefined) {
    parseIdentityKeys(opts.identityKeys);
    if (opts.relayId === undefined) throw invalidInput('relayId', 'required with identityKeys');
  }
  const src = opts.netmap;
  if (src !== undefined) {
    if (typeof src.file !== 'string' || src.file === '') throw invalidInput('netmap.file', 'must be a path');
    if (typeof src.controlPlaneKey !== 'string' || !/^[A-Za-z0-9+/]{43}=$/.test(src.controlPlaneKey)) {
      throw invalidInput('netmap.controlPlaneKey', 'must be a raw 32-byte Ed25519 public key in base64');
    }
    if (typeof src.verifySignedNetmap !== 'function') throw invalidInput('netmap.verifySignedNetmap', 'must be a function');
    if (src.pollIntervalMs !== undefined && (!Number.isInteger(src.pollIntervalMs) || src.pollIntervalMs < 0)) {
      throw invalidInput('netmap.pollIntervalMs', 'must be an integer >= 0 (ms)');
    }
  }
  if (opts.relayId !== undefined && (typeof opts.relayId !== 'string' || !/^[A-Za-z0-9._-]{1,64}$/.test(opts.relayId))) {
    throw invalidInput('relayId', 'must be 1..64 characters of A-Z a-z 0-9 . _ -');
  }
  const limits = resolveLimits(opts.limits);
  const recvBufferSize = checkBufferSize(opts.recvBufferSize, 'recvBufferSize');
  const sendBufferSize = checkBufferSize(opts.sendBufferSize, 'sendBufferSize');
  const sweepIntervalMs = opts.sweepIntervalMs ?? Math.min(1000, Math.floor(limits.sessionTimeoutMs / 2));
  if (!Number.isInteger(sweepIntervalMs) || sweepIntervalMs < 0) throw invalidInput('sweepIntervalMs', 'must be an integer >= 0 (ms)');
  const now = opts.now ?? Date.now;
  const logger = (opts.logger ?? noopLogger).child({ component: 'relay-server' });
  if (opts.identityKeyFile !== undefined && (typeof opts.identityKeyFile !== 'string' || opts.identityKeyFile === '')) {
    throw invalidInput('identityKeyFile', 'must be a path');
  }
  let identity: RelayIdentityKey | undefined;
  const tlsListen = opts.tlsListen === undefined ? undefined : checkEndpoint(opts.tlsListen, 'tlsListen');
  if (tlsListen && opts.identityKeyFile === undefined)
    throw invalidInput('tlsListen', 'needs identityKeyFile (the certificate is the relay identity)');
  let tls: { carrier: TlsCarrierServer; endpoint: Endpoint } | undefined;
  const kernelOpt = opts.kernelForwarding;
  if (kernelOpt !== undefined && typeof kernelOpt !== 'boolean' && (typeof kernelOpt !== 'object' || kernelOpt === null)) {
    throw invalidInput('kernelForwarding', 'must be a boolean or an object');
  }
  let kernel: KernelPath | undefined;

  let core: RelayCore | undefined;
  let relayId = opts.relayId ?? '';
  let socket: Socket | undefined;
  let bound: Endpoint | null = null;
  let timers: NodeJS.Timeout[] = [];
  let netmapVersion: number | null = null;
  let netmapExpiresAt = Infinity;
  let netmapRejections = 0;
  let grantedRecv: number | null = null;
  let grantedSend: number | null = null;
  let lastFlushed: RelayCounters | undefined;

  const m = opts.metrics;
  const metric = m && {
    packets: m.counter('relay_server_packets_total', 'Datagrams received (in) and sent (out) by the relay server', ['direction']),
    bytes: m.counter('relay_server_bytes_total', 'Bytes received (in) and sent (out) by the relay server', ['direction']),
    forwardedPackets: m.counter('relay_server_forwarded_packets_total', 'DATA datagrams forwarded between nodes'),
    forwardedBytes: m.counter('relay_server_forwarded_bytes_total', 'Payload bytes forwarded between nodes'),
    drops: m.counter('relay_server_drops_total', 'Datagrams dropped, by reason', ['reason']),
    registrations: m.counter('relay_server_registrations_total', 'Successful registrations'),
    sessions: m.gauge('relay_server_sessions', 'Live sessions'),
    kernel: m.gauge('relay_server_kernel_forwarding', 'Kernel fast path: 1 active, 0 asked for but unavailable (userspace only)'),
    kernelPairs: m.gauge('relay_server_kernel_pairs', 'Allocation pairs forwarded in the kernel'),
    kernelNetdev: m.gauge(
      'relay_server_kernel_netdev',
      'Kernel fast path table: 1 netdev (ingress + fwd), 0 inet fallback (prerouting/postrouting) or inactive',
    ),
  };

  function flushMetrics(): void {
    if (!metric || !core) return;
    const c = core.counters();
    const p = lastFlushed;
    const inc = (ctr: Counter, v: number, prev: number | undefined, labels?: Record<string, string>): void => {
      const d = v - (prev ?? 0);
      if (d > 0) ctr.inc(labels, d);
    };
    inc(metric.packets, c.packetsIn, p?.packetsIn, { direction: 'in' });
    inc(metric.packets, c.packetsOut, p?.packetsOut, { direction: 'out' });
    inc(metric.bytes, c.bytesIn, p?.bytesIn, { direction: 'in' });
    inc(metric.bytes, c.bytesOut, p?.bytesOut, { direction: 'out' });
    inc(metric.forwardedPackets, c.packetsForwarded, p?.packetsForwarded);
    inc(metric.forwardedBytes, c.bytesForwarded, p?.bytesForwarded);
    inc(metric.registrations, c.registrations, p?.registrations);
    for (const r of DROP_REASONS) inc(metric.drops, c.drops[r], p?.drops[r], { reason: r });
    metric.sessions.set(c.sessions);
    if (kernel) metric.kernelPairs.set(kernel.stats().pairs);
    lastFlushed = c;
  }

  async function loadNetmap(): Promise<{ netmap: Netmap; keys: Record<string, string> }> {
    const s = src;
    if (!s) throw new RustynetError('INTERNAL', 'relay server: loadNetmap called without a netmap source');
    let parsed: unknown;
    try {
      // Strict I-JSON (RFC 7493): the same parser as the daemon's, so both read one signed map alike.
      parsed = parseStrictJson(await readFile(s.file, 'utf8'), { what: `netmap file ${s.file}`, maxBytes: NETMAP_MAX_BYTES });
    } catch (cause) {
      if (isRustynetError(cause, 'DUPLICATE_KEY')) throw cause;
      throw new RustynetError('NETMAP_INVALID', `cannot read netmap file ${s.file}: ${(cause as Error).message}`, { cause });
    }
    const netmap = s.verifySignedNetmap(parsed, s.controlPlaneKey, { now: now() });
    const keys: Record<string, string> = {};
    for (const n of netmap.nodes) keys[n.id] = n.identityKey;
    parseIdentityKeys(keys, 'netmap.nodes');
    return { netmap, keys };
  }

  async function reloadNetmap(): Promise<void> {
    if (!src) throw new RustynetError('UNSUPPORTED', 'this relay server has no netmap source');
    try {
      const { netmap, keys } = await loadNetmap();
      checkNetmapRelayKey(netmap, relayId, identity, logger);
      if (netmapVersion !== null && netmap.version < netmapVersion) {
        throw new RustynetError('NETMAP_REPLAYED', `netmap version ${netmap.version} is older than ${netmapVersion}`);
      }
      core?.setIdentityKeys(keys);
      if (netmapVersion !== netmap.version) logger.info({ version: netmap.version, nodes: netmap.nodes.length }, 'relay netmap loaded');
      netmapVersion = netmap.version;
      netmapExpiresAt = Date.parse(netmap.expiresAt);
    } catch (err) {
      netmapRejections++;
      // Fail closed: once the last good map has expired, nobody is allowed.
      if (core && now() > netmapExpiresAt && core.allowedNodes() > 0) {
        core.setIdentityKeys({});
        logger.warn({ version: netmapVersion }, 'relay netmap expired: all sessions ended');
      }
      throw err;
    }
  }

  const server: RelayServer = {
    async start(): Promise<Endpoint> {
      if (socket) throw new RustynetError('ALREADY_RUNNING', 'relay server already running');
      let keys: Readonly<Record<string, string>>;
      if (opts.identityKeyFile !== undefined) {
        identity = await loadOrCreateRelayIdentity(opts.identityKeyFile);
        logger.info({ identityKey: identity.publicKey, created: identity.created }, 'relay identity key');
      }
      if (src) {
        const loaded = await loadNetmap();
        relayId = deriveRelayId(loaded.netmap, listen, opts.relayId);
        checkNetmapRelayKey(loaded.netmap, relayId, identity, logger);
        keys = loaded.keys;
        netmapVersion = loaded.netmap.version;
        netmapExpiresAt = Date.parse(loaded.netmap.expiresAt);
      } else {
        if (!opts.identityKeys) throw new RustynetError('INTERNAL', 'relay server has neither identityKeys nor a netmap source');
        keys = opts.identityKeys;
      }
      if (kernelOpt) {
        const k = typeof kernelOpt === 'object' ? kernelOpt : {};
        kernel = await startKernelPath({
          relayAddress: listen.host,
          limits,
          logger,
          ...(k.nftRunner && { run: k.nftRunner }),
          ...(k.readIpForward && { readIpForward: k.readIpForward }),
          ...(k.router !== undefined && { router: k.router }),
        });
        metric?.kernel.set(kernel.allocations ? 1 : 0);
        metric?.kernelNetdev.set(kernel.stats().mode === 'netdev' ? 1 : 0);
      }
      const family = isIP(listen.host) === 6 ? 'udp6' : 'udp4';
      const sock = createSocket({ type: family, recvBufferSize, sendBufferSize, ipv6Only: false });
      const c = new RelayCore({
        relayId,
        identityKeys: keys,
        limits,
        now,
        ...(identity && { identityKey: identity.privateKey }),
        ...(kernel?.allocations && { allocations: kernel.allocations }),
        send: (msg, port, address, done) =>
          address.startsWith(TLS_ADDRESS_PREFIX) ? tls?.carrier.send(msg, port, address, done) : sock.send(msg, port, address, done),
      });
      await new Promise<void>((resolve, reject) => {
        const onError = (err: NodeJS.ErrnoException): void => {
          sock.close();
          void kernel?.stop().catch(() => undefined);
          kernel = undefined;
          const code = err.code === 'EACCES' ? 'PERMISSION_DENIED' : 'RELAY_FAILED';
          reject(
            new RustynetError(code, `cannot bind relay socket on ${listen.host}:${listen.port}: ${err.message}`, {
              cause: err,
              details: { errno: err.code },
            }),
          );
        };
        sock.once('error', onError);
        sock.bind({ address: listen.host, port: listen.port, exclusive: true }, () => {
          sock.off('error', onError);
          resolve();
        });
      });
      sock.on('error', (err) => logger.warn({ err: err.message }, 'relay socket error'));
      sock.on('message', (msg, rinfo) => c.onDatagram(msg, rinfo.address, rinfo.port));
      try {
        grantedRecv = sock.getRecvBufferSize();
        grantedSend = sock.getSendBufferSize();
      } catch {
        /* not available on every platform */
      }
      if (tlsListen && identity && opts.identityKeyFile) {
        try {
          tls = await startTlsCarrier({
            listen: tlsListen,
            keyFile: opts.identityKeyFile,
            keyPem: identity.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
            relayId,
            logger,
            onDatagram: (m, a, p) => c.onDatagram(m, a, p),
          });
        } catch (err) {
          sock.close();
          throw err;
        }
      }
      socket = sock;
      core = c;
      lastFlushed = undefined;
      const a = sock.address();
      bound = { host: a.address, port: a.port };
      const expireCheck = (): void => {
        // Fail closed: once the netmap has expired and no newer one was accepted, nobody is allowed.
        if (src && now() > netmapExpiresAt && c.allowedNodes() > 0) {
          c.setIdentityKeys({});
          logger.warn({ version: netmapVersion }, 'relay netmap expired: all sessions ended');
        }
      };
      if (sweepIntervalMs > 0) {
        timers.push(
          setInterval(() => {
            c.sweep();
            expireCheck();
          }, sweepIntervalMs).unref(),
        );
      }
      if (metric) timers.push(setInterval(flushMetrics, 1000).unref());
      const poll = src?.pollIntervalMs ?? 5000;
      if (src && poll > 0) {
        timers.push(
          setInterval(() => {
            reloadNetmap().catch((err: unknown) => {
              logger.warn(
                { code: isRustynetError(err) ? err.code : undefined, err: (err as Error).message },
                'relay netmap reload rejected; keeping the last good map',
              );
            });
          }, poll).unref(),
        );
      }
      logger.info(
        {
          relayId,
          listen: bound,
          tls: tls?.endpoint ?? null,
          recvBufferSize: grantedRecv,
          sendBufferSize: grantedSend,
          allowedNodes: c.allowedNodes(),
        },
        'relay server listening',
      );
      return bound;
    },

    async stop(): Promise<void> {
      for (const t of timers) clearInterval(t);
      timers = [];
      const sock = socket;
      socket = undefined;
      bound = null;
      flushMetrics();
      await tls?.carrier.stop();
      tls = undefined;
      if (sock) await new Promise<void>((resolve) => sock.close(() => resolve()));
      const k = kernel;
      kernel = undefined;
      if (k) {
        try {
          await k.stop();
        } catch (err) {
          logger.error({ err: (err as Error).message }, 'relay kernel forwarding: cannot delete table inet rustynet_relay');
        }
      }
    },

    async kernelForwarded(): Promise<{ packets: number; bytes: number }> {
      return kernel ? kernel.forwarded() : { packets: 0, bytes: 0 };
    },

    stats(): RelayServerStats {
      flushMetrics();
      const c = core?.counters() ?? zeroCounters();
      return {
        ...c,
        relayId,
        listen: bound,
        allowedNodes: core?.allowedNodes() ?? 0,
        recvBufferSize: grantedRecv,
        sendBufferSize: grantedSend,
        netmapVersion,
        netmapRejections,
        identityKey: identity?.publicKey ?? null,
        tls: tls ? { listen: tls.endpoint, connections: tls.carrier.connections(), protocolErrors: tls.carrier.protocolErrors } : null,
        kernel: kernel ? kernel.stats() : null,
      };
    },

    address(): Endpoint | null {
      return bound;
    },

    setIdentityKeys(keys): void {
      if (src) throw new RustynetError('UNSUPPORTED', 'this relay server takes its allowlist from a netmap file');
      parseIdentityKeys(keys);
      core?.setIdentityKeys(keys);
      opts = { ...opts, identityKeys: keys };
    },

    reloadNetmap,

    sweep(): number {
      if (core && src && now() > netmapExpiresAt && core.allowedNodes() > 0) core.setIdentityKeys({});
      return core?.sweep() ?? 0;
    },
  };
  return server;
}
