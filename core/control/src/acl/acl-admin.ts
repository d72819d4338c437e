/**
 * The checks of the admin ACL commands apart from the engine: which nodes ACL tests run against,
 * and whether a tested ACL (or canary) may be stored.
 */
import { RustynetError } from '@rustynet/plugin-api';
import type { Snapshot } from '../store/types.js';
import type { AclNode, AclTestResult } from './evaluate.js';

/** The nodes an ACL's embedded tests run against: every node not expired (by an admin). */
export function aclNodesOf(snap: Snapshot): AclNode[] {
  return snap.nodes.filter((n) => n.expiredAt === null).map((n) => ({ id: n.id, name: n.name, tags: n.tags, addresses: [n.ipv4, n.ipv6] }));
}

/**
 * Refuses to store an ACL whose tests failed, or a canary with a malformed tag.
 * @throws RustynetError `INVALID_INPUT`: `acl/tests` (`details.failed` = the failing tests), or
 *   `canary` (tag not `^[a-z0-9][a-z0-9-]{0,62}$`).
 */
export function assertAclSettable(results: readonly AclTestResult[], canaryTag: string | null): void {
  const failed = results.filter((r) => !r.pass);
  if (failed.length > 0) {
    throw new RustynetError('INVALID_INPUT', `${failed.length} ACL test(s) failed; ACL not set`, {
      field: 'acl/tests',
      details: { failed },
    });
  }
  if (canaryTag !== null && !/^[a-z0-9][a-z0-9-]{0,62}$/.test(canaryTag)) {
    throw new RustynetError('INVALID_INPUT', `bad canary tag ${JSON.stringify(canaryTag)}`, { field: 'canary' });
  }
}
