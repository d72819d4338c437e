/**
 * Admin routes of the signing-key rotation (see keys/rotation.ts, docs/control.md):
 * - `GET  /admin/v1/signing-key`           -> {@link RotationStatus}
 * - `POST /admin/v1/signing-key/announce`  -> `{ version, next, nextKeyId, keyFile }`
 * - `POST /admin/v1/signing-key/switch`    `{ force? }` -> `{ version, current, forcedPast }`
 * - `POST /admin/v1/signing-key/retire`    -> `{ version, retired }`
 */
import { join } from 'node:path';
import type { ServerResponse } from 'node:http';
import { RustynetError } from '@rustynet/plugin-api';
import type { SigningKeyRotation } from './rotation.js';
import { sendJson } from '../server/http-util.js';

/** Handles a rotation route; false when `path` is not one. */
export async function handleRotationRoute(
  rotation: SigningKeyRotation,
  method: string,
  path: string,
  body: Record<string, unknown>,
  res: ServerResponse,
): Promise<boolean> {
  if (!path.startsWith('/admin/v1/signing-key')) return false;
  switch (`${method} ${path}`) {
    case 'GET /admin/v1/signing-key':
      sendJson(res, 200, await rotation.status());
      return true;
    case 'POST /admin/v1/signing-key/announce': {
      const r = await rotation.announce();
      sendJson(res, 200, {
        version: r.version,
        next: r.next.publicKey,
        nextKeyId: r.next.keyId,
        keyFile: join(rotation.ring.dir, `${r.next.keyId}.key`),
      });
      return true;
    }
    case 'POST /admin/v1/signing-key/switch': {
      if (body['force'] !== undefined && typeof body['force'] !== 'boolean') {
        throw new RustynetError('INVALID_INPUT', 'force must be a boolean', { field: 'force' });
      }
      const r = await rotation.switchKey(body['force'] === true);
      sendJson(res, 200, { version: r.version, current: r.publicKey, forcedPast: r.forcedPast });
      return true;
    }
    case 'POST /admin/v1/signing-key/retire': {
      const r = await rotation.retire();
      sendJson(res, 200, { version: r.version, retired: r.publicKey });
      return true;
    }
    default:
      return false;
  }
}
