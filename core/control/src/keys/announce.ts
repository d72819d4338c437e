/**
 * The netmap's `signingKeys` field from the rotation state: the announced next key while one is
 * announced, and the key retired last (so a node that was offline during `--retire` still drops
 * it). Absent outside a rotation, so netmaps stay 1.0 netmaps then.
 */
import type { NetmapSigningKeys } from '@rustynet/plugin-api';
import type { Snapshot } from '../store/types.js';

/** `{ signingKeys }` to spread into a netmap, or `{}`. */
export function signingKeysOf(s: Snapshot): { signingKeys?: NetmapSigningKeys } {
  const st = s.signing;
  if (!st) return {};
  const sk: NetmapSigningKeys = {
    ...(st.next !== null && { next: st.next.publicKey }),
    ...(st.retired !== null && { retired: st.retired }),
  };
  return sk.next === undefined && sk.retired === undefined ? {} : { signingKeys: sk };
}
