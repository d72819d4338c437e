/**
 * The ACL document an operator sets: the netmap's ACL (`rules`, validated by the plugin-api
 * schema) plus optional Tailscale-style `tests` that must pass before the ACL is accepted.
 * Only `rules` travels in netmaps.
 */
import { Ajv } from 'ajv';
import { RustynetError, aclSchema, type AclPolicy } from '@rustynet/plugin-api';

/** One embedded ACL test: a new flow and the decision it must get. */
export interface AclTest {
  /** Node id, node name, `node:<id>`, or an IP address. */
  src: string;
  dst: string;
  proto: 'tcp' | 'udp' | 'icmp';
  /** Destination port, for tcp and udp. */
  port?: number;
  expect: 'accept' | 'drop';
}

/** An ACL as set by an operator. */
export interface AclDocument extends AclPolicy {
  tests?: AclTest[];
}

const aclDocumentSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['rules'],
  properties: {
    rules: aclSchema.properties.rules,
    tests: {
      type: 'array',
      maxItems: 10000,
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['src', 'dst', 'proto', 'expect'],
        properties: {
          src: { type: 'string', minLength: 1, maxLength: 128 },
          dst: { type: 'string', minLength: 1, maxLength: 128 },
          proto: { enum: ['tcp', 'udp', 'icmp'] },
          port: { type: 'integer', minimum: 1, maximum: 65535 },
          expect: { enum: ['accept', 'drop'] },
        },
      },
    },
  },
} as const;

const ajv = new Ajv({ allErrors: false, strict: true });
const validate = ajv.compile<AclDocument>(aclDocumentSchema);

/**
 * Validates an ACL document against the netmap schema's ACL part plus the `tests` shape.
 * @throws RustynetError `INVALID_INPUT` with `field` = the JSON pointer of the first problem.
 */
export function parseAclDocument(value: unknown): AclDocument {
  if (!validate(value)) {
    const e = validate.errors?.[0];
    const field = `acl${e?.instancePath ?? ''}`;
    throw new RustynetError('INVALID_INPUT', `ACL ${field}: ${e?.message ?? 'invalid'}`, { field });
  }
  for (const [i, t] of (value.tests ?? []).entries()) {
    const needsPort = t.proto !== 'icmp';
    if (needsPort !== (t.port !== undefined)) {
      throw new RustynetError('INVALID_INPUT', `ACL test ${i}: ${needsPort ? `${t.proto} needs a port` : 'icmp has no port'}`, {
        field: `acl/tests/${i}/port`,
      });
    }
  }
  return value;
}

/** The netmap part of an ACL document (its `rules`). */
export function netmapAcl(doc: AclDocument): AclPolicy {
  return { rules: doc.rules };
}
