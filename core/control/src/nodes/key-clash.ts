/**
 * The uniqueness rule of a key rotation: a node may not take an identity key or a backend
 * public key that another node holds (that would impersonate it, or make two peers share one
 * key in every netmap).
 */
import { RustynetError } from '@rustynet/plugin-api';
import type { ControlNode } from '../store/types.js';

/**
 * @param others every node but the rotating one.
 * @throws RustynetError `INVALID_INPUT` with field `newIdentityKey` or `keys.<protocol>`, naming
 *   the node that holds the key. Nothing changed.
 */
export function assertKeysUnused(others: readonly ControlNode[], newIdentityKey: string, keys: Record<string, string>): void {
  const idClash = others.find((n) => n.identityKey === newIdentityKey);
  if (idClash) {
    throw new RustynetError('INVALID_INPUT', `newIdentityKey is already the identity of node ${idClash.id}; nothing changed`, {
      field: 'newIdentityKey',
    });
  }
  for (const [protocol, value] of Object.entries(keys)) {
    const clash = others.find((n) => n.keys[protocol] === value);
    if (clash) {
      throw new RustynetError('INVALID_INPUT', `keys.${protocol} is already the backend key of node ${clash.id}; nothing changed`, {
        field: `keys.${protocol}`,
      });
    }
  }
}
