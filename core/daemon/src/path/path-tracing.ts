/**
 * The path controller's span: `path.switch`, one peer's switch between the direct path and the
 * relay (plugin-kit's {@link withSpan}; no-op unless an OpenTelemetry SDK is registered, see
 * docs/operations/tracing.md). The relay client's `relay.session.setup` span of the same switch
 * (its `openPath`) is a child of it.
 */
import type { NodeId, PeerPath } from '@rustynet/plugin-api';
import { SpanAttributes as A, SpanNames, markSpanError, withSpan } from '@rustynet/plugin-kit';

/** What a switch reports to its span. */
export interface PathSwitchTrace {
  /** The backend now uses `endpoint` (`host:port`, null when unknown) for the peer. */
  switched(endpoint: string | null): void;
  /** The switch failed at `step` with `err`; nothing changed. */
  failed(err: unknown, step: string): void;
}

/**
 * Runs switch `fn` of `peer` from `from` to `to` inside span `path.switch`. Its outcome attribute
 * is `switched` (with the endpoint), `failed` (status ERROR, `error.type`, the failed step) or
 * `unchanged` (nothing to do: the peer had moved on, or the controller stopped).
 * @returns what `fn` returns (true: switched or nothing to do; false: failed).
 */
export function tracePathSwitch(
  peer: NodeId,
  from: PeerPath,
  to: PeerPath,
  reason: string,
  fn: (t: PathSwitchTrace) => Promise<boolean>,
): Promise<boolean> {
  return withSpan(SpanNames.pathSwitch, { [A.peer]: peer, [A.pathFrom]: from, [A.pathTo]: to, [A.pathReason]: reason }, async (span) => {
    let outcome = 'unchanged';
    const t: PathSwitchTrace = {
      switched: (endpoint) => {
        outcome = 'switched';
        if (endpoint !== null) span.setAttribute(A.endpoint, endpoint);
      },
      failed: (err, step) => {
        outcome = 'failed';
        markSpanError(span, err, { [A.pathStep]: step });
      },
    };
    try {
      return await fn(t);
    } finally {
      span.setAttribute(A.outcome, outcome);
    }
  });
}
