/**
 * The node key rotation request (`POST /v1/node/rotate-keys`), shared by the server and
 * {@link ControlClient}. The HTTP request is signed with the node's OLD identity key (the usual
 * request signature: timestamp window, one-time nonce, body hash). The body carries the new keys
 * and `proof`: an Ed25519 signature by the NEW identity key over the RFC 8785 canonical JSON of
 * `{ context: "rustynet-rotate-keys-v1", oldIdentityKey, newIdentityKey, keys }`, so the node
 * shows it holds the new private key and the proof cannot be moved to another node or key set.
 */
import { Ajv } from 'ajv';
import { RustynetError, netmapSchema } from '@rustynet/plugin-api';
import { netmapSigningBytes } from '@rustynet/daemon';

/** Domain separation string of the rotation proof. */
export const ROTATE_SIGNING_CONTEXT = 'rustynet-rotate-keys-v1';

/** Body of `POST /v1/node/rotate-keys`. */
export interface RotateKeysBody {
  /** The new Ed25519 identity public key (raw 32 bytes, base64). */
  newIdentityKey: string;
  /** The new backend public keys by protocol id (opaque; they replace all old ones). */
  keys: Record<string, string>;
  /** Signature (base64) by the new identity key over {@link rotateSigningBytes}. */
  proof: string;
}

/** The bytes the proof covers. */
export function rotateSigningBytes(f: { oldIdentityKey: string; newIdentityKey: string; keys: Record<string, string> }): Buffer {
  return netmapSigningBytes({
    context: ROTATE_SIGNING_CONTEXT,
    oldIdentityKey: f.oldIdentityKey,
    newIdentityKey: f.newIdentityKey,
    keys: f.keys,
  });
}

const ajv = new Ajv({ allErrors: false, strict: false });
const validate = ajv.compile<RotateKeysBody>({
  type: 'object',
  additionalProperties: false,
  required: ['newIdentityKey', 'keys', 'proof'],
  properties: {
    newIdentityKey: { type: 'string', pattern: '^[A-Za-z0-9+/]{43}=$' },
    keys: { ...netmapSchema.properties.nodes.items.properties.keys, minProperties: 1, maxProperties: 16 },
    proof: { type: 'string', pattern: '^[A-Za-z0-9+/]{86}==$' },
  },
});

/**
 * Validates a rotation body.
 * @throws RustynetError `INVALID_INPUT` naming the field (`body/newIdentityKey`, `body/keys`, ...).
 */
export function parseRotateKeysBody(value: unknown): RotateKeysBody {
  if (!validate(value)) {
    const e = validate.errors?.[0];
    const field = `body${e?.instancePath ?? ''}`;
    throw new RustynetError('INVALID_INPUT', `${field}: ${e?.message ?? 'invalid'}`, { field });
  }
  return value;
}
