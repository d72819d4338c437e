/**
 * `rustynet relay serve`: runs a Rustynet relay server (from `@rustynet/relay`) that forwards the
 * backends' encrypted datagrams between nodes of a signed netmap. See docs/relay.md.
 *
 * The relay package is loaded with a dynamic import of its package name, so the CLI does not
 * depend on it at build time; the netmap verifier is the daemon's `verifySignedNetmap`.
 */
import type { Command } from 'commander';
import { readFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { RustynetError, invalidInput, type Endpoint, type Logger, type Metrics, type Netmap } from '@rustynet/plugin-api';
import { daemonModule } from '../daemon-api.js';
import { formatError } from '../errors.js';
import { io, printJson } from '../io.js';
import { addExamples, addJsonOption } from '../program.js';
import { startProgramTracing } from '../tracing.js';

/** The parts of `@rustynet/relay` this command uses (see plugins/relay/src/server/server.ts). */
interface RelayServerLike {
  start(): Promise<Endpoint>;
  stop(): Promise<void>;
  reloadNetmap(): Promise<void>;
  stats(): {
    relayId: string;
    sessions: number;
    allowedNodes: number;
    packetsForwarded: number;
    bytesForwarded: number;
    drops: Record<string, number>;
    recvBufferSize: number | null;
    sendBufferSize: number | null;
    netmapVersion: number | null;
    identityKey?: string | null;
    tls?: { listen: Endpoint } | null;
    kernel?: { state: string; reason: string | null; pairs: number; mode?: string | null; modeReason?: string | null } | null;
  };
}
interface RelayModuleLike {
  createRelayServer(opts: {
    listen: Endpoint;
    relayId?: string;
    netmap: {
      file: string;
      controlPlaneKey: string;
      verifySignedNetmap: (input: unknown, key: string, opts?: { now?: number }) => Netmap;
      pollIntervalMs?: number;
    };
    limits?: Record<string, number>;
    recvBufferSize?: number;
    sendBufferSize?: number;
    logger?: Logger;
    metrics?: Metrics;
    identityKeyFile?: string;
    tlsListen?: Endpoint;
    kernelForwarding?: boolean;
  }): RelayServerLike;
}

const RELAY_PACKAGE = '@rustynet/relay';

async function relayModule(): Promise<RelayModuleLike> {
  const spec: string = RELAY_PACKAGE; // a variable: no build-time dependency on the plugin
  try {
    const mod = (await import(spec)) as Partial<RelayModuleLike>;
    if (typeof mod.createRelayServer !== 'function') throw new Error('it does not export createRelayServer');
    return mod as RelayModuleLike;
  } catch (cause) {
    throw new RustynetError(
      'PLUGIN_LOAD_FAILED',
      `cannot load ${RELAY_PACKAGE} (is it built? npx tsc -b plugins/relay): ${(cause as Error).message}`,
      { cause },
    );
  }
}

/**
 * Parses `host:port` or `[v6]:port` (IP literals only).
 * @throws RustynetError INVALID_INPUT (`--listen`).
 */
export function parseListen(value: string, flag = '--listen'): Endpoint {
  const m = /^\[([^\]]+)\]:(\d{1,5})$/.exec(value) ?? /^([^:]+):(\d{1,5})$/.exec(value);
  const port = m ? Number(m[2]) : NaN;
  if (!m || isIP(m[1]) === 0 || !(port >= 1 && port <= 65535)) {
    throw invalidInput(flag, `expected <ip>:<port> or [<ipv6>]:<port>, got "${value}"`);
  }
  return { host: m[1], port };
}

function positiveInt(flag: string) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isSafeInteger(n) || n <= 0) throw invalidInput(flag, `must be a positive integer, got "${v}"`);
    return n;
  };
}

/** A logger printing one JSON line per record on stderr (no secrets are ever logged by the relay). */
function stderrLogger(level: 'info' | 'debug', bindings: Record<string, unknown> = {}): Logger {
  const order = { trace: 10, debug: 20, info: 30, warn: 40, error: 50 } as const;
  const min = order[level];
  const emit =
    (lvl: keyof typeof order) =>
    (obj: object | string, msg?: string): void => {
      if (order[lvl] < min) return;
      const rec = typeof obj === 'string' ? { msg: obj } : { ...obj, msg };
      io().err(`${JSON.stringify({ time: new Date().toISOString(), level: lvl, ...bindings, ...rec })}\n`);
    };
  return {
    trace: emit('trace'),
    debug: emit('debug'),
    info: emit('info'),
    warn: emit('warn'),
    error: emit('error'),
    child: (b) => stderrLogger(level, { ...bindings, ...b }),
  };
}

interface ServeOptions {
  listen: string;
  netmap: string;
  controlPlaneKey: string;
  relayId?: string;
  pollInterval?: number;
  maxSessionsPerNode?: number;
  packetsPerSecond?: number;
  bytesPerSecond?: number;
  socketBuffer?: number;
  metricsListen?: string;
  identityKey?: string;
  tlsListen?: string;
  tls?: boolean;
  kernelForwarding?: boolean;
  verbose?: boolean;
  json?: boolean;
}

/** Registers `relay serve`. */
export function register(program: Command): void {
  const relay = program.command('relay').description('relay server for nodes whose direct paths are blocked (see docs/relay.md)');
  const serve = relay
    .command('serve')
    .description(
      "run a relay server: forwards the backends' encrypted datagrams between nodes of a signed netmap until SIGINT/SIGTERM (SIGHUP re-reads the netmap)",
    )
    .requiredOption('--listen <addr:port>', 'UDP address to listen on, e.g. 198.18.0.10:3478 or [::]:3478')
    .requiredOption('--netmap <file>', 'signed netmap file; its nodes (id + identityKey) may register; re-read periodically')
    .requiredOption('--control-plane-key <b64>', 'control-plane Ed25519 public key (raw 32 bytes, base64) or a file holding it')
    .option(
      '--relay-id <id>',
      "this relay's id in the netmap's relays (default: the relay whose endpoint matches --listen, or the only one)",
    )
    .option('--poll-interval <ms>', 'netmap re-read interval in ms (default 5000)', positiveInt('--poll-interval'))
    .option('--max-sessions-per-node <n>', 'sessions one node may hold (default 4)', positiveInt('--max-sessions-per-node'))
    .option('--packets-per-second <n>', 'DATA packets/s per node (default 50000)', positiveInt('--packets-per-second'))
    .option('--bytes-per-second <n>', 'DATA bytes/s per node (default 62500000)', positiveInt('--bytes-per-second'))
    .option(
      '--socket-buffer <bytes>',
      'SO_RCVBUF/SO_SNDBUF request (default 4194304; capped by net.core.rmem_max/wmem_max)',
      positiveInt('--socket-buffer'),
    )
    .option(
      '--metrics-listen <addr:port>',
      'serve GET /metrics (relay_server_* and process metrics), /healthz and /readyz over HTTP here, e.g. 127.0.0.1:9470',
    )
    .option(
      '--identity-key <file>',
      "the relay's Ed25519 identity key (PKCS#8 PEM, 0600), created when missing; its public key is printed for the netmap's relays[].identityKey",
    )
    .option(
      '--tls-listen <addr:port>',
      'also accept relayed traffic over TLS on TCP here (the TLS carrier; needs --identity-key; default: the --listen address, port 443)',
    )
    .option('--no-tls', 'no TLS carrier even with --identity-key')
    .option(
      '--kernel-forwarding',
      'forward allocated relay pairs in the kernel (nftables tables netdev/inet rustynet_relay; needs CAP_NET_ADMIN, nft, net.ipv4.ip_forward=1, an IPv4 --listen); falls back to userspace when unavailable',
    )
    .option('-v, --verbose', 'debug logging');
  addJsonOption(serve);
  addExamples(serve, [
    'rustynet relay serve --listen 198.18.0.10:3478 --netmap /etc/rustynet/netmap.json --control-plane-key "$(cat cp.pub)"',
    'rustynet relay serve --listen [::]:3478 --netmap ./netmap.json --control-plane-key ./control-plane.pub --relay-id relay-1',
    'rustynet relay serve --listen 198.18.0.10:3478 --netmap ./netmap.json --control-plane-key ./cp.pub --identity-key /var/lib/rustynet-relay/identity.key',
  ]);
  serve.action(async (opts: ServeOptions) => {
    const listen = parseListen(opts.listen);
    if (opts.tlsListen !== undefined && opts.identityKey === undefined) throw invalidInput('--tls-listen', 'needs --identity-key');
    const tlsListen =
      opts.tls === false || opts.identityKey === undefined
        ? undefined
        : opts.tlsListen !== undefined
          ? parseListen(opts.tlsListen, '--tls-listen')
          : { host: listen.host, port: 443 };
    const metricsListen = opts.metricsListen === undefined ? undefined : parseListen(opts.metricsListen, '--metrics-listen');
    let cpKey = opts.controlPlaneKey.trim();
    if (!/^[A-Za-z0-9+/]{43}=$/.test(cpKey)) {
      try {
        cpKey = (await readFile(cpKey, 'utf8')).trim();
      } catch {
        throw invalidInput('--control-plane-key', 'not a base64 Ed25519 public key nor a readable file');
      }
    }
    const [d, r] = await Promise.all([daemonModule(), relayModule()]);
    // OpenTelemetry spans (relay.server.register) when OTEL_* asks for them (docs/operations/tracing.md).
    const tracing = await startProgramTracing(d, 'rustynet relay', undefined, 'rustynet-relay', opts.relayId);
    const limits: Record<string, number> = {};
    if (opts.maxSessionsPerNode !== undefined) limits.maxSessionsPerNode = opts.maxSessionsPerNode;
    if (opts.packetsPerSecond !== undefined) limits.packetsPerSecond = opts.packetsPerSecond;
    if (opts.bytesPerSecond !== undefined) limits.bytesPerSecond = opts.bytesPerSecond;
    const metrics = metricsListen ? new d.PromMetrics() : undefined;
    if (metrics) d.collectProcessMetrics(metrics.registry, 'rustynet_relay_');
    const server = r.createRelayServer({
      listen,
      ...(opts.relayId !== undefined && { relayId: opts.relayId }),
      netmap: {
        file: opts.netmap,
        controlPlaneKey: cpKey,
        verifySignedNetmap: (input, key, o) => d.verifySignedNetmap(input, key, o),
        ...(opts.pollInterval !== undefined && { pollIntervalMs: opts.pollInterval }),
      },
      limits,
      ...(opts.socketBuffer !== undefined && { recvBufferSize: opts.socketBuffer, sendBufferSize: opts.socketBuffer }),
      logger: stderrLogger(opts.verbose ? 'debug' : 'info'),
      ...(opts.identityKey !== undefined && { identityKeyFile: opts.identityKey }),
      ...(tlsListen !== undefined && { tlsListen }),
      ...(opts.kernelForwarding === true && { kernelForwarding: true }),
      ...(metrics && { metrics }),
    });
    let serving = false;
    let ops: { close(): Promise<void>; address: { host: string; port: number } } | undefined;
    const cliIo = io();
    let resolveDone!: () => void;
    const done = new Promise<void>((res) => (resolveDone = res));
    let stopping = false;
    const stop = (signal: string): void => {
      if (stopping) process.exit(1);
      stopping = true;
      cliIo.err(`rustynet relay: ${signal}, stopping\n`);
      resolveDone();
    };
    const onInt = (): void => stop('SIGINT');
    const onTerm = (): void => stop('SIGTERM');
    const onHup = (): void => {
      server.reloadNetmap().then(
        () => cliIo.err('rustynet relay: SIGHUP, netmap reloaded\n'),
        (err: unknown) => cliIo.err(`${formatError('rustynet relay', err)}\n`),
      );
    };
    process.on('SIGINT', onInt);
    process.on('SIGTERM', onTerm);
    process.on('SIGHUP', onHup);
    try {
      const ep = await server.start();
      serving = true;
      if (metrics && metricsListen) {
        ops = await d.startOpsHttpServer(metricsListen, {
          metrics: async () => {
            server.stats(); // flushes the relay_server_* counters
            return { contentType: metrics.registry.contentType, body: await metrics.registry.metrics() };
          },
          healthz: () => ({ ok: serving && !stopping }),
          readyz: () => {
            const s = server.stats();
            return {
              ok: serving && !stopping && s.netmapVersion !== null,
              detail: { relayId: s.relayId, netmapVersion: s.netmapVersion, sessions: s.sessions },
            };
          },
        });
      }
      const st = server.stats();
      if (opts.json)
        printJson({
          listening: ep,
          relayId: st.relayId,
          allowedNodes: st.allowedNodes,
          netmapVersion: st.netmapVersion,
          identityKey: st.identityKey ?? null,
          tls: st.tls?.listen ?? null,
          kernelForwarding: st.kernel ? { state: st.kernel.state, reason: st.kernel.reason } : null,
          metrics: ops?.address ?? null,
        });
      else {
        cliIo.err(
          st.identityKey
            ? `rustynet relay: identity key ${st.identityKey} (list it as relays[].identityKey in the netmap)\n`
            : 'rustynet relay: no --identity-key: nodes cannot authenticate this relay (see docs/relay.md, Relay identity)\n',
        );
        if (st.tls) cliIo.err(`rustynet relay: TLS carrier on ${st.tls.listen.host}:${st.tls.listen.port}/tcp\n`);
        if (st.kernel)
          cliIo.err(
            st.kernel.state === 'active'
              ? st.kernel.mode === 'inet'
                ? `rustynet relay: kernel forwarding active (nftables table inet rustynet_relay; netdev unavailable: ${st.kernel.modeReason ?? ''})\n`
                : `rustynet relay: kernel forwarding active (nftables table ${st.kernel.mode ?? 'inet'} rustynet_relay)\n`
              : `rustynet relay: kernel forwarding unavailable, userspace only: ${st.kernel.reason ?? ''}\n`,
          );
        cliIo.err(
          `rustynet relay: ${st.relayId} listening on ${ep.host}:${ep.port} (pid ${process.pid}, ${st.allowedNodes} nodes, netmap v${st.netmapVersion})${ops ? `, metrics on http://${ops.address.host}:${ops.address.port}/metrics` : ''}\n`,
        );
      }
      await done;
      const end = server.stats();
      cliIo.err(`rustynet relay: forwarded ${end.packetsForwarded} datagrams (${end.bytesForwarded} bytes)\n`);
    } finally {
      process.off('SIGINT', onInt);
      process.off('SIGTERM', onTerm);
      process.off('SIGHUP', onHup);
      await ops?.close();
      await server.stop();
      await tracing?.shutdown().catch((err: unknown) => cliIo.err(`${formatError('rustynet relay: tracing', err)}\n`));
    }
  });
}
