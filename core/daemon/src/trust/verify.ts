import { verify as cryptoVerify, type KeyObject } from 'node:crypto';
import type { ValidateFunction } from 'ajv';
import { RustynetError, netmapSchema, signedNetmapSchema, type Netmap, type SignedNetmap } from '@rustynet/plugin-api';
import { publicKeyFromRawB64 } from '../services/key-store.js';
import { errorField, formatAjvErrors, sharedValidator } from '../util/ajv.js';
import { checkNetmapSemantics } from './semantic.js';
import { netmapSigningBytes } from './sign.js';

/** Allowed clock skew for `issuedAt` in the future, in milliseconds. */
export const ISSUED_AT_SKEW_MS = 60_000;

const envelopeValidator = (): ValidateFunction<SignedNetmap> => sharedValidator<SignedNetmap>(signedNetmapSchema);
const netmapValidator = (): ValidateFunction<Netmap> => sharedValidator<Netmap>(netmapSchema);

/** Options of {@link verifySignedNetmap}. */
export interface VerifyOptions {
  /** Current time in ms since the epoch (default `Date.now()`). */
  now?: number;
}

/**
 * Verifies a signed netmap, in order:
 * 1. envelope schema (`signedNetmapSchema`) -> `NETMAP_INVALID`;
 * 2. Ed25519 signature (RFC 8032) over the RFC 8785 canonical JSON of `netmap`, against the raw
 *    32-byte control-plane key -> `NETMAP_SIGNATURE_INVALID`;
 * 3. netmap schema (`netmapSchema`, ajv with formats) -> `NETMAP_INVALID` naming the field;
 * 4. semantic checks (unique ids, CIDRs, host prefixes) -> `NETMAP_INVALID`;
 * 5. time: `issuedAt` more than 60 s in the future, or `expiresAt` not after now -> `NETMAP_EXPIRED`.
 *
 * The watermark (replay) check is separate: see `NetmapWatermark`.
 * @returns the verified netmap.
 * @throws RustynetError `NETMAP_INVALID`, `NETMAP_SIGNATURE_INVALID`, `NETMAP_EXPIRED`,
 *   `KEY_INVALID` (the control-plane key itself is malformed).
 * @param controlPlanePublicKeyB64 the raw key in base64, a key object, or a {@link KeyResolver}
 *   picking the key by the signature's `keyId` (a key set).
 */
export function verifySignedNetmap(
  input: unknown,
  controlPlanePublicKeyB64: string | KeyObject | KeyResolver,
  opts: VerifyOptions = {},
): Netmap {
  return verifySignedNetmapBytes(input, controlPlanePublicKeyB64, opts).netmap;
}

/**
 * Picks the key to verify with from the envelope's `signature.keyId` (a key set, see
 * `ControlKeySet`); throws `NETMAP_SIGNATURE_INVALID` when no trusted key has that id.
 */
export type KeyResolver = (keyId: string) => KeyObject;

/** Result of {@link verifySignedNetmapBytes}. */
export interface VerifiedNetmap {
  netmap: Netmap;
  /** The RFC 8785 canonical JSON of `netmap` (UTF-8) that the signature was verified over. */
  canonical: Buffer;
}

/**
 * {@link verifySignedNetmap}, also returning the canonical bytes it verified, so a caller that
 * needs a digest of the netmap does not canonicalise it a second time.
 * @throws as {@link verifySignedNetmap}.
 */
export function verifySignedNetmapBytes(
  input: unknown,
  controlPlanePublicKeyB64: string | KeyObject | KeyResolver,
  opts: VerifyOptions = {},
): VerifiedNetmap {
  const now = opts.now ?? Date.now();
  const validateEnvelope = envelopeValidator();
  if (!validateEnvelope(input)) {
    const first = validateEnvelope.errors?.[0];
    throw new RustynetError('NETMAP_INVALID', `signed netmap envelope: ${formatAjvErrors(validateEnvelope.errors)}`, {
      ...(first && { field: errorField(first) }),
    });
  }
  const key =
    typeof controlPlanePublicKeyB64 === 'string'
      ? publicKeyFromRawB64(controlPlanePublicKeyB64)
      : typeof controlPlanePublicKeyB64 === 'function'
        ? controlPlanePublicKeyB64(input.signature.keyId)
        : controlPlanePublicKeyB64;
  let ok: boolean;
  let canonical: Buffer | undefined;
  try {
    canonical = netmapSigningBytes(input.netmap);
    ok = cryptoVerify(null, canonical, key, Buffer.from(input.signature.value, 'base64'));
  } catch {
    ok = false;
  }
  if (!ok || !canonical)
    throw new RustynetError('NETMAP_SIGNATURE_INVALID', 'netmap signature does not verify against the control-plane key', {
      field: 'signature.value',
    });

  const netmap = checkNetmapContent(input.netmap, now);
  return { netmap, canonical };
}

/**
 * Steps 3 to 5 of {@link verifySignedNetmap} on a netmap whose authenticity is already
 * established (by its signature, or by a signed delta's digest): schema, semantics, time.
 * @throws RustynetError `NETMAP_INVALID` (naming the field), `NETMAP_EXPIRED`.
 */
export function checkNetmapContent(netmap: unknown, now: number): Netmap {
  const validateNetmap = netmapValidator();
  if (!validateNetmap(netmap)) {
    const first = validateNetmap.errors?.[0];
    throw new RustynetError('NETMAP_INVALID', `netmap: ${formatAjvErrors(validateNetmap.errors)}`, {
      ...(first && { field: errorField(first) }),
    });
  }
  checkNetmapSemantics(netmap);
  checkNetmapTimes(netmap, now);
  return netmap;
}

/**
 * Step 5 of {@link verifySignedNetmap}: `issuedAt` at most 60 s in the future, `expiresAt` after now.
 * @throws RustynetError `NETMAP_EXPIRED` naming the field.
 */
export function checkNetmapTimes(netmap: Netmap, now: number): void {
  const issuedAt = Date.parse(netmap.issuedAt);
  const expiresAt = Date.parse(netmap.expiresAt);
  if (issuedAt > now + ISSUED_AT_SKEW_MS) {
    throw new RustynetError(
      'NETMAP_EXPIRED',
      `netmap issuedAt ${netmap.issuedAt} lies in the future (now ${new Date(now).toISOString()})`,
      {
        field: 'issuedAt',
      },
    );
  }
  if (expiresAt <= now) {
    throw new RustynetError('NETMAP_EXPIRED', `netmap expired at ${netmap.expiresAt} (now ${new Date(now).toISOString()})`, {
      field: 'expiresAt',
    });
  }
}
