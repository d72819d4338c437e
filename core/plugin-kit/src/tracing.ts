/**
 * Tracing through OpenTelemetry's API (`@opentelemetry/api`): one tracer, the span names and
 * attribute names Rustynet uses, and {@link withSpan}, the only way spans are made.
 *
 * The API is a no-op until a program registers an SDK (the daemon does so only when
 * `tracing` is configured, see docs/operations/tracing.md): then every call here costs one
 * non-recording span object. Plugins call {@link withSpan}; they never configure exporters.
 *
 * Attributes never carry secrets: {@link safeAttributes} drops any attribute whose name ends in
 * a secret-like word (key, token, signature, secret, password, nonce, mac, credential), whatever
 * its value, so a careless call cannot leak a key into a trace backend.
 */
import { SpanStatusCode, trace, type Attributes, type Span, type Tracer } from '@opentelemetry/api';

/** Instrumentation scope name of every Rustynet span. */
export const TRACER_NAME = 'rustynet';

/**
 * Span names (stable: dashboards and alerts select on them). See docs/operations/tracing.md for
 * each span's attributes.
 */
export const SpanNames = Object.freeze({
  /** One registration attempt of a relay client with one relay (HELLO .. REGISTERED or REJECT). */
  relayRegister: 'relay.register',
  /** A relayed session set up for one peer: the relay client's loopback path to it (`openPath`). */
  relaySessionSetup: 'relay.session.setup',
  /** A relay client moving off its relay: from losing the session until registered with a relay again. */
  relayFailover: 'relay.failover',
  /** One peer's switch between the direct path and the relay (the daemon's path controller). */
  pathSwitch: 'path.switch',
  /** A relay server handling one (return-routability checked) registration. */
  relayServerRegister: 'relay.server.register',
} as const);

/** One of {@link SpanNames}' values. */
export type SpanName = (typeof SpanNames)[keyof typeof SpanNames];

/** Attribute names (`rustynet.*`, plus OpenTelemetry's `error.type`). */
export const SpanAttributes = Object.freeze({
  /** This node's id. */
  node: 'rustynet.node.id',
  /** The peer's node id. */
  peer: 'rustynet.peer.id',
  /** The relay's id (netmap `relays[].id`). */
  relay: 'rustynet.relay.id',
  /** The relay's underlay endpoint, `host:port`. */
  relayEndpoint: 'rustynet.relay.endpoint',
  /** `udp` or `tls` (the TLS carrier). */
  carrier: 'rustynet.relay.carrier',
  /** `start` (first registration of a run) or `background` (re-registration while running). */
  registerMode: 'rustynet.relay.register_mode',
  /** Whether the relay has to prove its identity (it lists an identity key in the netmap). */
  relayAuthenticated: 'rustynet.relay.authenticated',
  /** How it ended: `registered`, `refused`, `failed` (registration); `switched`, `unchanged`, `failed` (path switch). */
  outcome: 'rustynet.outcome',
  /** The relay's REJECT reason name on a refusal (`UNKNOWN_NODE`, `BAD_SIGNATURE`, `BUSY`, ...). */
  refusalReason: 'rustynet.relay.refusal_reason',
  /** Keepalive interval agreed with the relay, ms. */
  keepaliveMs: 'rustynet.relay.keepalive_ms',
  /** Failover: the relay that was lost. */
  relayFrom: 'rustynet.relay.from',
  /** Failover: the relay registered with afterwards. */
  relayTo: 'rustynet.relay.to',
  /** Failover: why the session was lost (`keepalive answers missed`, `relay forgot the session`). */
  failoverReason: 'rustynet.relay.failover_reason',
  /** Path switch: `direct` or `relay` before. */
  pathFrom: 'rustynet.path.from',
  /** Path switch: `direct` or `relay` asked for. */
  pathTo: 'rustynet.path.to',
  /** Path switch: why (the path controller's reason text). */
  pathReason: 'rustynet.path.reason',
  /** Path switch: the step that failed (`relay.openPath`, `backend.updatePeerEndpoint`, ...). */
  pathStep: 'rustynet.path.failed_step',
  /** The endpoint the backend was pointed at, `host:port`. */
  endpoint: 'rustynet.path.endpoint',
  /** The relay client's loopback endpoint for the peer, `host:port`. */
  localEndpoint: 'rustynet.relay.local_endpoint',
  /** The error's stable code (`RELAY_FAILED`, `TIMEOUT`, ...), OpenTelemetry's `error.type`. */
  errorType: 'error.type',
} as const);

/** Attribute names that are never exported, whatever their value (see {@link safeAttributes}). */
const SECRET_NAME = /(^|[._-])(key|keys|token|tokens|signature|sig|secret|secrets|password|passphrase|nonce|mac|credential|credentials)$/i;

/**
 * `attrs` without `undefined` values and without any attribute whose name ends in a secret-like
 * word (`*.key`, `*_token`, `*.signature`, ...): span attributes must never carry secrets.
 */
export function safeAttributes(attrs: Readonly<Record<string, Attributes[string]>>): Attributes {
  const out: Attributes = {};
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || SECRET_NAME.test(k)) continue;
    out[k] = v;
  }
  return out;
}

/** The Rustynet tracer of the globally registered provider (a no-op tracer when none is). */
export function tracer(): Tracer {
  return trace.getTracer(TRACER_NAME);
}

/**
 * Marks `span` failed: status ERROR with the error's message, `error.type` set to its stable
 * code (a `RustynetError`'s `code`, else its name), and the exception recorded (name and
 * message only: no stack, no `details`).
 */
export function markSpanError(span: Span, err: unknown, attrs: Readonly<Record<string, Attributes[string]>> = {}): void {
  const e = err as { code?: unknown; name?: unknown; message?: unknown } | null | undefined;
  const type = typeof e?.code === 'string' ? e.code : typeof e?.name === 'string' ? e.name : 'Error';
  const message = typeof e?.message === 'string' ? e.message : String(err);
  span.setAttributes(safeAttributes({ ...attrs, [SpanAttributes.errorType]: type }));
  span.recordException({ name: type, message });
  span.setStatus({ code: SpanStatusCode.ERROR, message });
}

/**
 * Runs `fn` inside a new active span `name` (one of {@link SpanNames} for Rustynet's own spans) with `attributes` (filtered by {@link safeAttributes})
 * and ends the span when `fn` returns or, for a promise, settles. A throw or rejection marks the
 * span failed ({@link markSpanError}) and is rethrown unchanged; otherwise the status stays unset
 * (OpenTelemetry's rule for instrumentation). `fn` may add attributes to the span it is given
 * (use {@link safeAttributes}) or mark it failed without throwing.
 *
 * Spans started inside `fn` (also after an `await`, when the SDK has an async context manager,
 * as `NodeTracerProvider` does) become its children.
 * @returns what `fn` returns.
 */
export function withSpan<T>(name: string, attributes: Readonly<Record<string, Attributes[string]>>, fn: (span: Span) => T): T {
  return tracer().startActiveSpan(name, { attributes: safeAttributes(attributes) }, (span): T => {
    let result: T;
    try {
      result = fn(span);
    } catch (err) {
      markSpanError(span, err);
      span.end();
      throw err;
    }
    if (result instanceof Promise) {
      return result.then(
        (v: unknown) => {
          span.end();
          return v;
        },
        (err: unknown) => {
          markSpanError(span, err);
          span.end();
          throw err;
        },
      ) as T;
    }
    span.end();
    return result;
  });
}
