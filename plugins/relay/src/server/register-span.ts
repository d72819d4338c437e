/**
 * The relay server's `relay.server.register` span: one registration that passed the
 * return-routability check, from REGISTER to REGISTERED or REJECT (plugin-kit's tracing; a no-op
 * unless the program registers an OpenTelemetry SDK, see docs/operations/tracing.md). A refusal
 * is the server working as meant, so it leaves the status unset (OpenTelemetry's rule for
 * server spans) and says why in `rustynet.relay.refusal_reason`. No key or signature is recorded.
 */
import { SpanAttributes as A, SpanNames, safeAttributes, tracer } from '@rustynet/plugin-kit';
import { RejectReason } from '../protocol.js';

/** One registration's span. */
export interface RegisterSpan {
  /** The node was refused with REJECT `reason` (a protocol code). */
  refused(reason: number): void;
  /** The node is registered (a new session, or an existing one refreshed). */
  registered(): void;
  /** Ends the span (once the answer is sent). */
  end(): void;
}

/** Starts the span of `node`'s registration from `address`:`port` with relay `relayId`. */
export function startRegisterSpan(relayId: string, node: string, signed: boolean, address: string, port: number): RegisterSpan {
  const span = tracer().startSpan(SpanNames.relayServerRegister, {
    attributes: safeAttributes({
      [A.relay]: relayId,
      [A.node]: node,
      [A.relayAuthenticated]: signed,
      'client.address': address,
      'client.port': port,
    }),
  });
  return {
    refused: (reason) =>
      span.setAttributes({
        [A.outcome]: 'refused',
        [A.refusalReason]: Object.entries(RejectReason).find(([, v]) => v === reason)?.[0] ?? `reason ${reason}`,
      }),
    registered: () => span.setAttribute(A.outcome, 'registered'),
    end: () => span.end(),
  };
}
