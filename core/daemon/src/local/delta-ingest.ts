/**
 * The delta way in: a signed netmap delta is applied to the applied netmap and, once verified,
 * goes on exactly like a verified full netmap (`Ingest.applyTrusted`). A delta that cannot be
 * applied (bad signature or schema, base mismatch, bad operation, digest mismatch, hostile input)
 * changes nothing: it is recorded as rejected and the full netmap is fetched instead.
 */
import type { TrustedNetmap } from '../trust/netmap-trust.js';
import { isDeltaEnvelope } from '../netmap/delta.js';
import { toRustynetError } from '../util/errors.js';
import type { Ingest, IngestDeps, IngestResult } from './ingest.js';

/**
 * Verifies and applies a signed delta (see `NetmapTrust.checkDelta`); on any failure records the
 * rejection and ingests the source's full netmap instead (`NetmapSource.fetchFull`).
 */
export async function ingestDelta(ingest: Ingest, d: IngestDeps, input: unknown): Promise<IngestResult> {
  // A delta to a version already applied (e.g. read again after `invalidate`): nothing to refuse,
  // the full source decides (its map is then unchanged, or newer).
  const version = deltaVersion(input);
  const applied = d.state.current?.trusted.netmap.version;
  if (typeof version === 'number' && applied !== undefined && version <= applied) return fullFallback(ingest, d);
  let trusted: TrustedNetmap;
  try {
    trusted = await d.trust.checkDelta(input, d.state.current?.trusted);
  } catch (err) {
    const e = toRustynetError(err, 'NETMAP_INVALID');
    await ingest.reject(e, version);
    d.metrics.deltas.inc({ result: 'fallback' });
    d.logger.info({ code: e.code, reason: e.details?.reason }, 'netmap delta not applied; fetching the full netmap');
    return fullFallback(ingest, d);
  }
  d.metrics.deltas.inc({ result: 'applied' });
  if (d.state.state === 'down') {
    d.state.pending = trusted;
    return { result: 'deferred', version: trusted.netmap.version };
  }
  return ingest.applyTrusted(trusted, 'delta');
}

/** Fetches and ingests the full netmap after a refused delta. */
async function fullFallback(ingest: Ingest, d: IngestDeps): Promise<IngestResult> {
  let full;
  try {
    if (d.source.fetchFull) full = await d.source.fetchFull();
    else {
      d.source.invalidate();
      full = await d.source.fetch(true);
    }
  } catch (err) {
    const e = toRustynetError(err, 'NETMAP_INVALID');
    await ingest.reject(e);
    return { result: 'rejected', error: e.toJSON() };
  }
  if (!full.changed || isDeltaEnvelope(full.value)) return { result: 'none' };
  return ingest.ingest(full.value, full.text);
}

function deltaVersion(input: unknown): unknown {
  if (!isDeltaEnvelope(input)) return undefined;
  const delta = input.delta;
  return delta !== null && typeof delta === 'object' && 'version' in delta ? delta.version : undefined;
}
