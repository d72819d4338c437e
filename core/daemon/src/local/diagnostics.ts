import { RustynetError, formatEndpoint, type Netmap, type NetmapNode } from '@rustynet/plugin-api';
import type { LocalApiHandlers } from '../api/local-api.js';
import type { AuditStartupCheck } from '../audit/audit-log.js';
import { verifyAuditLog, type AuditVerification } from '../audit/audit-verify.js';
import type { NodeState } from './ingest.js';
import type { Session } from './session.js';

/** Largest accepted `timeoutMs` of one diagnostic ping, ms. */
export const MAX_PING_TIMEOUT_MS = 30_000;
/** Default time-out of one diagnostic ping, ms. */
export const DEFAULT_PING_TIMEOUT_MS = 2_000;

/** Answer of `POST /v1/ping`: one diagnostic ping. */
export interface PingResult {
  /** The peer's node id. */
  peer: string;
  name: string;
  /** The peer's first overlay address (no prefix length). */
  address: string | null;
  /** The path the data plane uses for the peer now (the path controller's view). */
  currentPath: 'direct' | 'relay';
  /** True when the peer answered. */
  reply: boolean;
  /**
   * Which path answered: `direct` (a signed probe PONG over the underlay) or `relay` (an ICMP
   * echo through the tunnel while the data plane relays the peer).
   */
  path?: 'direct' | 'relay';
  /**
   * `host:port` the direct probe went to (also without a reply, when one was sent); the relay ids
   * for a relayed answer.
   */
  via?: string;
  /** Round trip, ms. */
  rttMs?: number;
  /** How it was measured: `probe` (the path prober's PING/PONG) or `tunnel` (ICMP through the tunnel). */
  method?: 'probe' | 'tunnel';
  /** Why nothing answered (no reply), or why the direct probe was not tried. */
  note?: string;
}

/** Answer of `GET /v1/audit`. */
export interface AuditReport {
  /** The check made at daemon start-up (a failure started a new chain segment). */
  startup: AuditStartupCheck;
  /** The log checked now. */
  now: AuditVerification;
}

function stripPrefix(cidr: string): string {
  return cidr.replace(/\/\d+$/, '');
}

/**
 * Finds a netmap node by node id, name, overlay address (with or without prefix length),
 * identity key or any backend key value.
 * @throws RustynetError `INVALID_INPUT` (field `peer`) when none or several match.
 */
export function findNode(netmap: Netmap, query: string): NetmapNode {
  const q = query.trim();
  const byId = netmap.nodes.find((n) => n.id === q);
  if (byId) return byId;
  const matches = netmap.nodes.filter(
    (n) =>
      n.name === q || n.addresses.some((a) => a === q || stripPrefix(a) === q) || n.identityKey === q || Object.values(n.keys).includes(q),
  );
  if (matches.length === 1) return matches[0];
  if (matches.length > 1) {
    throw new RustynetError(
      'INVALID_INPUT',
      `"${q}" names ${matches.length} nodes (${matches.map((n) => n.id).join(', ')}); use a node id`,
      {
        field: 'peer',
      },
    );
  }
  throw new RustynetError('INVALID_INPUT', `no node "${q}" in the current netmap (give a node id, name, overlay IP or key)`, {
    field: 'peer',
  });
}

/** What the diagnostic endpoints read. */
export interface DiagnosticsDeps {
  node: string;
  state: NodeState;
  session: () => Session | undefined;
}

function appliedNetmap(state: NodeState): Netmap {
  const nm = state.current?.trusted.netmap;
  if (!nm) throw new RustynetError('NOT_RUNNING', 'no netmap applied yet: nothing to look up');
  return nm;
}

/** ICMP echo through the tunnel (iputils `ping`), round trip in ms or undefined. */
async function tunnelPing(session: Session, address: string, timeoutMs: number): Promise<number | undefined> {
  const seconds = Math.max(1, Math.ceil(timeoutMs / 1000));
  const r = await session.components.runner
    .run('ping', ['-n', '-q', '-c', '1', '-W', String(seconds), address], { reject: false, timeoutMs: timeoutMs + 2_000 })
    .catch(() => undefined);
  const m = r && r.exitCode === 0 ? /= [\d.]+\/([\d.]+)\//.exec(r.stdout) : null;
  return m ? Number(m[1]) : undefined;
}

/**
 * One diagnostic ping of `peerQuery` (id, name, overlay IP or key): first the path prober's signed
 * PING straight to the peer's probe port over the underlay (path `direct`); when that is not
 * answered (or the peer has no probe port) an ICMP echo through the tunnel, which travels the path
 * the data plane uses (`relay` while the path controller relays the peer). `directOnly`: the
 * direct probe alone (`rustynet netcheck`).
 * @throws RustynetError `INVALID_INPUT` (bad `timeoutMs`, unknown peer, this node), `NOT_RUNNING`.
 */
export async function diagnosticPing(
  deps: DiagnosticsDeps,
  peerQuery: string,
  timeoutMs: number,
  opts: { directOnly?: boolean } = {},
): Promise<PingResult> {
  if (!Number.isInteger(timeoutMs) || timeoutMs < 1 || timeoutMs > MAX_PING_TIMEOUT_MS) {
    throw new RustynetError('INVALID_INPUT', `timeoutMs must be an integer 1..${MAX_PING_TIMEOUT_MS}`, { field: 'timeoutMs' });
  }
  const session = deps.session();
  if (!session) throw new RustynetError('NOT_RUNNING', 'daemon is not running');
  const netmap = appliedNetmap(deps.state);
  const node = findNode(netmap, peerQuery);
  if (node.id === deps.node) throw new RustynetError('INVALID_INPUT', `"${peerQuery}" is this node`, { field: 'peer' });
  const address = node.addresses[0] ? stripPrefix(node.addresses[0]) : null;
  const currentPath = session.paths.pathFor(node.id);
  const base = { peer: node.id, name: node.name ?? node.id, address, currentPath };
  let note: string | undefined;
  let probed: string | undefined;
  const prober = session.probing?.prober;
  if (!prober) note = 'path probing is not configured (pathProbe): no direct probe';
  else {
    const r = await prober.pingOnce(node.id, timeoutMs);
    if (!r) note = 'the peer advertises no probePort: no direct probe';
    else if (r.rttMs !== undefined) {
      return { ...base, reply: true, path: 'direct', via: formatEndpoint(r.target), rttMs: r.rttMs, method: 'probe' };
    } else {
      probed = formatEndpoint(r.target);
      note = `no PONG from ${probed} within ${timeoutMs} ms (direct path blocked?)`;
    }
  }
  if (address && session.dataPlane.running && !opts.directOnly) {
    const rtt = await tunnelPing(session, address, timeoutMs);
    if (rtt !== undefined) {
      const relays = (netmap.relays ?? []).map((r) => r.id).join(',') || '?';
      const ep = node.endpoints[0];
      const via = currentPath === 'relay' ? `relay ${relays}` : ep ? formatEndpoint(ep) : '-';
      return { ...base, reply: true, path: currentPath, via, rttMs: rtt, method: 'tunnel', ...(note !== undefined && { note }) };
    }
    note = `${note ? `${note}; ` : ''}no ICMP echo reply through the tunnel`;
  }
  return { ...base, reply: false, ...(probed !== undefined && { via: probed }), ...(note !== undefined && { note }) };
}

/** `GET /v1/netmap`: this node's id and the applied netmap (public data: no private key in it). */
export function netmapReport(deps: DiagnosticsDeps): { node: string; appliedAt: string | null; netmap: Netmap | null } {
  const cur = deps.state.current;
  return { node: deps.node, appliedAt: cur ? new Date(cur.appliedAt).toISOString() : null, netmap: cur?.trusted.netmap ?? null };
}

/** `GET /v1/audit`: the start-up check and a check of the log now. */
export async function auditReport(deps: DiagnosticsDeps): Promise<AuditReport> {
  const session = deps.session();
  if (!session) throw new RustynetError('NOT_RUNNING', 'daemon is not running');
  const pub = session.components.keyStore.loaded ? session.components.keyStore.publicKey() : undefined;
  const now = await verifyAuditLog(session.audit.path, {
    ...(pub !== undefined && { headPath: session.audit.headPath, publicKey: pub, requireHead: true }),
  });
  return { startup: session.auditCheck, now };
}

/** The local API handlers of the diagnostic endpoints. */
export function diagnosticHandlers(deps: DiagnosticsDeps): Required<Pick<LocalApiHandlers, 'netmap' | 'ping' | 'audit'>> {
  return {
    netmap: () => Promise.resolve(netmapReport(deps)),
    ping: (q) => diagnosticPing(deps, q.peer, q.timeoutMs ?? DEFAULT_PING_TIMEOUT_MS, { directOnly: q.directOnly === true }),
    audit: () => auditReport(deps),
  };
}
