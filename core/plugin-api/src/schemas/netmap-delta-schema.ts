import { NODE_ID_PATTERN } from '../types/node-id.js';
import { envelopeSignatureSchema } from './netmap-schema.js';

const digest = { type: 'string', pattern: '^[0-9a-f]{64}$' } as const;
const version = { type: 'integer', minimum: 1, maximum: Number.MAX_SAFE_INTEGER } as const;
/** A top-level netmap member other than `version` and `nodes` (no `__proto__`-like names). */
const member = { type: 'string', pattern: '^[a-zA-Z][a-zA-Z0-9]{0,63}$', not: { enum: ['version', 'nodes'] } } as const;

const netmapDeltaSchemaDefinition = {
  $id: 'https://rustynet.dev/schemas/netmap-delta-1.json',
  title: 'Rustynet netmap delta',
  type: 'object',
  additionalProperties: false,
  required: ['kind', 'baseVersion', 'baseDigest', 'version', 'digest', 'ops'],
  properties: {
    kind: { const: 'netmap-delta' },
    baseVersion: version,
    baseDigest: digest,
    version,
    digest,
    ops: {
      type: 'array',
      maxItems: 200000,
      items: {
        type: 'object',
        required: ['op'],
        oneOf: [
          {
            additionalProperties: false,
            required: ['op', 'node'],
            properties: { op: { const: 'upsertNode' }, node: { type: 'object', required: ['id'], properties: { id: { type: 'string' } } } },
          },
          {
            additionalProperties: false,
            required: ['op', 'id'],
            properties: { op: { const: 'removeNode' }, id: { type: 'string', pattern: NODE_ID_PATTERN } },
          },
          { additionalProperties: false, required: ['op', 'member', 'value'], properties: { op: { const: 'set' }, member, value: {} } },
          { additionalProperties: false, required: ['op', 'member'], properties: { op: { const: 'delete' }, member } },
        ],
      },
    },
  },
} as const;

const signedNetmapDeltaSchemaDefinition = {
  $id: 'https://rustynet.dev/schemas/signed-netmap-delta-1.json',
  title: 'Rustynet signed netmap delta',
  type: 'object',
  additionalProperties: false,
  required: ['delta', 'signature'],
  properties: {
    delta: { type: 'object' },
    signature: envelopeSignatureSchema,
  },
} as const;

/**
 * JSON Schema of a {@link NetmapDelta} (the signed payload). Checks the shape of each operation;
 * a node an `upsertNode` carries, and every member a `set` gives, are checked with
 * `netmapSchema` as part of the resulting netmap.
 */
export const netmapDeltaSchema: typeof netmapDeltaSchemaDefinition = netmapDeltaSchemaDefinition;

/** JSON Schema of a {@link SignedNetmapDelta} envelope. */
export const signedNetmapDeltaSchema: typeof signedNetmapDeltaSchemaDefinition = signedNetmapDeltaSchemaDefinition;
