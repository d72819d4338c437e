/**
 * @rustynet/plugin-kit: shared helpers for Rustynet plugin authors.
 *
 * - {@link PluginLifecycle} / {@link BackendBase}: state checks, call serialisation and
 *   abort/deadline mapping in one place; implement the protected `_` methods.
 * - {@link CallScope}, {@link abortError}: a call's deadline and signal, mapped to `TIMEOUT` / `ABORTED`.
 * - {@link parseCidr}, {@link parseIp} and friends: CIDR/IP on ipaddr.js.
 * - {@link validatePeerBatch}, {@link validateStartConfig}, {@link validateRouteChange},
 *   {@link validateEndpoint}, {@link checkPeerConflicts}: the backend contract's input checks
 *   (`INVALID_INPUT` naming the field, before anything changes).
 * - {@link retry}: exponential back-off on p-retry, with an AbortSignal.
 * - {@link writeFileAtomic}: atomic writes with fsync and a file mode.
 * - {@link SerialQueue}: one task at a time, in call order.
 * - {@link parseStrictJson}: I-JSON (RFC 7493) for signed data: duplicate member names refused.
 * - {@link withSpan}, {@link SpanNames}: OpenTelemetry spans (no-op unless the program registers an SDK).
 */
export { abortError, isAbortError, isTimeoutReason, mapAbortError, throwIfAborted } from './abort.js';
export { writeFileAtomic, type AtomicWriteOptions } from './atomic-write.js';
export { BackendBase, type BackendBaseOptions } from './backend-base.js';
export {
  BACKEND_MTU_RANGE,
  checkCidr,
  checkPeerConflicts,
  validateEndpoint,
  validatePeerBatch,
  validateRouteChange,
  validateStartConfig,
  type PeerBatchRules,
} from './backend-input.js';
export { CallScope } from './call-scope.js';
export {
  CidrSet,
  canonicalCidr,
  cidrAddress,
  cidrContains,
  cidrProblem,
  cidrsOverlap,
  familyBits,
  formatCidr,
  formatIp,
  hostBitsZero,
  isHostPrefix,
  isIp,
  isIPv4Mapped,
  makeCidr,
  normalizeCidrs,
  parseCidr,
  parseIp,
  unmapIPv4,
  type IpAddress,
  type IpFamily,
  type ParseCidrOptions,
  type ParsedCidr,
} from './cidr.js';
export { PluginLifecycle, type LifecycleOptions } from './lifecycle.js';
export { isRetryable, retry, type RetryOptions } from './retry.js';
export { SerialQueue } from './serial-queue.js';
export {
  findDuplicateKey,
  jsonFieldName,
  parseStrictJson,
  type StrictJsonOptions,
  type Segment as JsonPathSegment,
} from './strict-json.js';
export { SpanAttributes, SpanNames, TRACER_NAME, markSpanError, safeAttributes, tracer, withSpan, type SpanName } from './tracing.js';
