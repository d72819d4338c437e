/**
 * Input validation for the backend contract. The rule (core/plugin-api `errors.ts`): bad input
 * fails with `INVALID_INPUT` naming the field (`upsert[2].allowedIps[0]`) and changes NOTHING,
 * so validate a whole batch before touching the data plane.
 *
 * The contract's checks come from `@rustynet/plugin-kit`; the protocol's own rule, what a public
 * key looks like, is `key-format.ts`.
 */
import type { BackendStartConfig, PeerBatch } from '@rustynet/plugin-api';
import * as kit from '@rustynet/plugin-kit';
import { isPeerKey } from './key-format.js';

export { validateEndpoint, validateRouteChange } from '@rustynet/plugin-kit';

/** @throws RustynetError `INVALID_INPUT` naming the field; `UNSUPPORTED` for IPv6 without the capability. */
export function validateStartConfig(cfg: BackendStartConfig, ipv6: boolean): void {
  kit.validateStartConfig(cfg, { ipv6 });
}

/** @throws RustynetError `INVALID_INPUT`, `DUPLICATE_PEER`, `UNKNOWN_PEER`, `UNSUPPORTED`. */
export function validatePeerBatch(batch: PeerBatch, known: ReadonlySet<string>, opts: { ipv6: boolean; maxPeers: number }): void {
  kit.validatePeerBatch(batch, known, { ...opts, isPeerKey, keyHint: 'not a 2048-bit RSA public key (base64 DER, see key-format.ts)' });
}
