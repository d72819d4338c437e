/**
 * Input validation for the backend contract. The rule (core/plugin-api `errors.ts`): bad input
 * fails with `INVALID_INPUT` naming the field (`upsert[2].allowedIps[0]`) and changes NOTHING,
 * so validate a whole batch before touching the data plane.
 *
 * The contract's checks (ids, CIDRs, endpoints, ports, duplicates, unknown peers, capabilities)
 * come from `@rustynet/plugin-kit`; what is your protocol's own lives here: what a public key
 * looks like, and anything stricter your tunnel needs (check it after the kit's).
 */
import type { BackendStartConfig, PeerBatch } from '@rustynet/plugin-api';
import * as kit from '@rustynet/plugin-kit';

/** Base64 of 32 bytes; keep in sync with `backend.peerKeySchema` in rustynet-plugin.json. */
export const KEY_PATTERN = /^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$/;

export { validateEndpoint, validateRouteChange } from '@rustynet/plugin-kit';

/** @throws RustynetError `INVALID_INPUT` naming the field; `UNSUPPORTED` for IPv6 without the capability. */
export function validateStartConfig(cfg: BackendStartConfig, ipv6: boolean): void {
  kit.validateStartConfig(cfg, { ipv6 });
}

/** @throws RustynetError `INVALID_INPUT`, `DUPLICATE_PEER`, `UNKNOWN_PEER`, `UNSUPPORTED`. */
export function validatePeerBatch(batch: PeerBatch, known: ReadonlySet<string>, opts: { ipv6: boolean; maxPeers: number }): void {
  kit.validatePeerBatch(batch, known, { ...opts, isPeerKey: (k) => KEY_PATTERN.test(k) });
}
