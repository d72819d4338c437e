/**
 * The relay client's spans (plugin-kit's {@link withSpan}; no-op unless the program registers an
 * OpenTelemetry SDK): one registration attempt, a relayed session's set-up, a failover. Kept here
 * so relay-link.ts and plugin.ts each wrap one call. Attribute names and meanings:
 * docs/operations/tracing.md. No key, token or signature is ever an attribute.
 */
import { formatEndpoint, isRustynetError, type Endpoint, type NetmapRelay, type NodeId } from '@rustynet/plugin-api';
import { SpanAttributes as A, SpanNames, safeAttributes, withSpan } from '@rustynet/plugin-kit';

/** What a registration attempt reports on success. */
interface Registered {
  relay: NetmapRelay;
  keepaliveMs: number;
}

/**
 * Runs one registration attempt `fn` with `relay` inside span `relay.register`. On success the
 * span gets `outcome=registered` and the keepalive; on a REJECT, `outcome=refused` and the reason
 * name; on anything else `outcome=failed`. Errors are rethrown unchanged.
 */
export function traceRegistration<T extends Registered>(
  node: NodeId,
  relay: NetmapRelay,
  carrier: 'udp' | 'tls',
  mode: 'start' | 'background',
  fn: () => Promise<T>,
): Promise<T> {
  return withSpan(
    SpanNames.relayRegister,
    {
      [A.node]: node,
      [A.relay]: relay.id,
      [A.relayEndpoint]: formatEndpoint(relay.endpoint),
      [A.carrier]: carrier,
      [A.registerMode]: mode,
      [A.relayAuthenticated]: relay.identityKey !== undefined,
    },
    async (span) => {
      try {
        const s = await fn();
        span.setAttributes({ [A.outcome]: 'registered', [A.keepaliveMs]: s.keepaliveMs });
        return s;
      } catch (err) {
        const reason = isRustynetError(err, 'RELAY_FAILED') ? (err.details as { reason?: unknown } | undefined)?.reason : undefined;
        span.setAttributes(
          safeAttributes({
            [A.outcome]: typeof reason === 'string' ? 'refused' : 'failed',
            [A.refusalReason]: typeof reason === 'string' ? reason : undefined,
          }),
        );
        throw err;
      }
    },
  );
}

/**
 * Runs the set-up of `peer`'s relayed session (`fn` binds its loopback path) inside span
 * `relay.session.setup`, with the current relay and the local endpoint it got.
 */
export function traceSessionSetup(
  node: NodeId | undefined,
  peer: NodeId,
  relay: string | undefined,
  fn: () => Promise<Endpoint>,
): Promise<Endpoint> {
  return withSpan(SpanNames.relaySessionSetup, { [A.node]: node, [A.peer]: peer, [A.relay]: relay }, async (span) => {
    const local = await fn();
    span.setAttribute(A.localEndpoint, formatEndpoint(local));
    return local;
  });
}

/**
 * Records span `relay.failover`: the home relay moved away from `from` because it became
 * unhealthy or its session was lost (`reason`: the selector's `home unhealthy` / `home lost`).
 * `to` is the new home (already registered: the client keeps a session with every relay), or
 * undefined when no relay is left (`outcome=no relay`; the client keeps registering in the
 * background, each attempt its own `relay.register` span).
 */
export function recordFailover(node: NodeId | undefined, from: string, to: string | undefined, reason: string): void {
  withSpan(
    SpanNames.relayFailover,
    {
      [A.node]: node,
      [A.relayFrom]: from,
      [A.relayTo]: to,
      [A.failoverReason]: reason,
      [A.outcome]: to === undefined ? 'no relay' : 'switched',
    },
    () => undefined,
  );
}
