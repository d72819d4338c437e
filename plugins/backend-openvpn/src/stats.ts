/** Run-time statistics of the OpenVPN backend, read from each instance's management socket. */
import type { BackendRuntimeStats, Endpoint, PeerStats } from '@rustynet/plugin-api';
import type { OpenVpnOptions } from './options.js';
import { isProxyEndpoint, portOffset } from './rules.js';
import type { Running } from './running.js';

/** Per-peer counters, handshakes and live endpoints, read concurrently. */
export async function readStats(opts: OpenVpnOptions, run: Running): Promise<BackendRuntimeStats> {
  const entries = [...run.peers.values()];
  const peers = await Promise.all(
    entries.map(async (e): Promise<PeerStats> => {
      const s = await e.instance.snapshot();
      // Reported in netmap terms: the peer's base port, not the derived per-pair port (a
      // loopback proxy endpoint as it is).
      const selfOffset = portOffset(run.v.localV4Value, opts.portSpan);
      const configured = e.peer.config.endpoint;
      const livePort =
        s.remotePort === undefined || s.remoteHost === undefined
          ? undefined
          : isProxyEndpoint(s.remoteHost)
            ? s.remotePort
            : s.remotePort - selfOffset;
      const endpoint: Endpoint | undefined =
        s.remoteHost && livePort !== undefined && livePort >= 1
          ? { host: s.remoteHost, port: livePort }
          : configured
            ? { ...configured }
            : undefined;
      return {
        id: e.peer.config.id,
        ...(endpoint ? { endpoint } : {}),
        lastHandshakeAt: s.lastHandshakeAt,
        rxBytes: s.rxBytes,
        txBytes: s.txBytes,
        localPort: e.instance.currentConfig.localPort,
        state: s.state,
        ...(s.cipher !== undefined && { cipher: s.cipher }),
      };
    }),
  );
  return { interfaces: entries.map((e) => e.device), peers, listenPort: run.v.basePort };
}
