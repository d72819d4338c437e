import { NODE_ID_PATTERN } from '../types/node-id.js';

const ipv4 = { type: 'string', format: 'ipv4' } as const;
const ipv6 = { type: 'string', format: 'ipv6' } as const;

const cidrSchemaDefinition = {
  type: 'string',
  anyOf: [
    { pattern: '^((25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)\\.){3}(25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)/(3[0-2]|[12]?\\d)$' },
    { pattern: '^[0-9a-fA-F:.]*:[0-9a-fA-F:.]*/(12[0-8]|1[01]\\d|[1-9]?\\d)$' },
  ],
} as const;

const endpointSchemaDefinition = {
  type: 'object',
  additionalProperties: false,
  required: ['host', 'port'],
  properties: {
    host: { anyOf: [ipv4, ipv6] },
    port: { type: 'integer', minimum: 1, maximum: 65535 },
  },
} as const;

const selector = { type: 'string', minLength: 1, maxLength: 128 } as const;

const aclSchemaDefinition = {
  type: 'object',
  additionalProperties: false,
  required: ['rules'],
  properties: {
    rules: {
      type: 'array',
      maxItems: 10000,
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['action', 'src', 'dst', 'proto'],
        properties: {
          id: { type: 'string', pattern: '^[A-Za-z0-9_.-]{1,64}$' },
          action: { enum: ['accept', 'drop'] },
          src: { type: 'array', minItems: 1, items: selector },
          dst: { type: 'array', minItems: 1, items: selector },
          proto: { enum: ['tcp', 'udp', 'icmp', 'any'] },
          ports: {
            type: 'array',
            minItems: 1,
            items: {
              anyOf: [
                { type: 'integer', minimum: 1, maximum: 65535 },
                { type: 'string', pattern: '^\\d{1,5}(-\\d{1,5})?$' },
              ],
            },
          },
        },
      },
    },
  },
} as const;

const netmapSchemaDefinition = {
  $id: 'https://rustynet.dev/schemas/netmap-1.json',
  title: 'Rustynet netmap',
  type: 'object',
  additionalProperties: false,
  required: ['version', 'issuedAt', 'expiresAt', 'nodes'],
  properties: {
    version: { type: 'integer', minimum: 1, maximum: Number.MAX_SAFE_INTEGER },
    issuedAt: { type: 'string', format: 'date-time' },
    expiresAt: { type: 'string', format: 'date-time' },
    network: { type: 'string', maxLength: 128 },
    nodes: {
      type: 'array',
      maxItems: 100000,
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['id', 'addresses', 'endpoints', 'keys', 'identityKey'],
        properties: {
          id: { type: 'string', pattern: NODE_ID_PATTERN },
          name: { type: 'string', pattern: NODE_ID_PATTERN },
          addresses: { type: 'array', minItems: 1, maxItems: 16, items: cidrSchemaDefinition },
          endpoints: { type: 'array', maxItems: 16, items: endpointSchemaDefinition },
          keys: {
            type: 'object',
            propertyNames: { pattern: '^[a-z][a-z0-9-]{0,31}$' },
            additionalProperties: { type: 'string', maxLength: 8192 },
          },
          identityKey: { type: 'string', pattern: '^[A-Za-z0-9+/]{43}=$' },
          tags: { type: 'array', items: { type: 'string', pattern: '^[a-z0-9][a-z0-9-]{0,62}$' } },
          routes: { type: 'array', maxItems: 256, items: cidrSchemaDefinition },
          probePort: { type: 'integer', minimum: 1, maximum: 65535 },
        },
      },
    },
    acl: aclSchemaDefinition,
    dns: {
      type: 'object',
      additionalProperties: false,
      properties: {
        zone: { type: 'string', pattern: '^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$' },
      },
    },
    relays: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['id', 'endpoint'],
        properties: {
          id: { type: 'string', pattern: NODE_ID_PATTERN },
          endpoint: endpointSchemaDefinition,
          identityKey: { type: 'string', pattern: '^[A-Za-z0-9+/]{43}=$' },
          tlsPort: { type: 'integer', minimum: 1, maximum: 65535 },
          region: { type: 'string', pattern: '^[A-Za-z0-9._-]{1,64}$' },
        },
      },
    },
    signingKeys: {
      type: 'object',
      additionalProperties: false,
      minProperties: 1,
      properties: {
        next: { type: 'string', pattern: '^[A-Za-z0-9+/]{43}=$' },
        retired: { type: 'string', pattern: '^[A-Za-z0-9+/]{43}=$' },
      },
    },
  },
} as const;

const signatureSchemaDefinition = {
  type: 'object',
  additionalProperties: false,
  required: ['alg', 'keyId', 'value'],
  properties: {
    alg: { const: 'Ed25519' },
    keyId: { type: 'string', pattern: '^[0-9a-f]{16}$' },
    value: { type: 'string', pattern: '^[A-Za-z0-9+/]{86}==$' },
  },
} as const;

const signedNetmapSchemaDefinition = {
  $id: 'https://rustynet.dev/schemas/signed-netmap-1.json',
  title: 'Rustynet signed netmap',
  type: 'object',
  additionalProperties: false,
  required: ['netmap', 'signature'],
  properties: {
    netmap: { type: 'object' },
    signature: signatureSchemaDefinition,
  },
} as const;

/** JSON Schema of a CIDR prefix (`a.b.c.d/n` or `x::y/n`). Host-bit checks are semantic, not here. */
export const cidrSchema: typeof cidrSchemaDefinition = cidrSchemaDefinition;

/** JSON Schema of an {@link Endpoint}. */
export const endpointSchema: typeof endpointSchemaDefinition = endpointSchemaDefinition;

/** JSON Schema of an {@link AclPolicy}. */
export const aclSchema: typeof aclSchemaDefinition = aclSchemaDefinition;

/** JSON Schema of a {@link Netmap} (the signed payload). */
export const netmapSchema: typeof netmapSchemaDefinition = netmapSchemaDefinition;

/**
 * JSON Schema of the `signature` of a signed envelope ({@link SignedNetmap} and
 * {@link SignedNetmapDelta}): `alg` Ed25519, the signer's 16-hex `keyId`, and the 64-byte
 * signature `value` in base64. Shared by both envelope schemas.
 */
export const envelopeSignatureSchema: typeof signatureSchemaDefinition = signatureSchemaDefinition;

/** JSON Schema of a {@link SignedNetmap} envelope. */
export const signedNetmapSchema: typeof signedNetmapSchemaDefinition = signedNetmapSchemaDefinition;
