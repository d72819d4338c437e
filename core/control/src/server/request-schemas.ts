/**
 * JSON Schemas of the node API's request bodies, compiled once with ajv. Field shapes follow
 * the netmap schema (backend keys are opaque strings under protocol ids; endpoints as in netmaps).
 */
import { Ajv, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';
import { RustynetError, endpointSchema, netmapSchema } from '@rustynet/plugin-api';
import type { EnrolRequest } from '../control-service.js';
import type { NodeSelfUpdate } from '../store/control-store.js';

const addFormats = addFormatsModule.default;
const ajv = new Ajv({ allErrors: false, strict: false });
addFormats(ajv);

const nodeProps = netmapSchema.properties.nodes.items.properties;
const keys = { ...nodeProps.keys, maxProperties: 16 };
const endpoints = { type: 'array', maxItems: 16, items: endpointSchema };
const b64key = { type: 'string', pattern: '^[A-Za-z0-9+/]{43}=$' };

const enrolSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['authKey', 'challenge', 'identityKey', 'name', 'keys', 'endpoints', 'signature'],
  properties: {
    authKey: { type: 'string', minLength: 1, maxLength: 256 },
    challenge: { type: 'string', pattern: '^[A-Za-z0-9_-]{43}$' },
    identityKey: b64key,
    name: { type: 'string', minLength: 1, maxLength: 63 },
    keys,
    endpoints,
    probePort: nodeProps.probePort,
    signature: { type: 'string', pattern: '^[A-Za-z0-9+/]{86}==$' },
  },
};

const selfUpdateSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    keys,
    endpoints,
    probePort: { anyOf: [nodeProps.probePort, { type: 'null' }] },
  },
};

function checker<T>(v: ValidateFunction<T>, what: string): (value: unknown) => T {
  return (value) => {
    if (!v(value)) {
      const e = v.errors?.[0];
      const field = `${what}${e?.instancePath ?? ''}`;
      throw new RustynetError('INVALID_INPUT', `${field}: ${e?.message ?? 'invalid'}`, { field });
    }
    return value;
  };
}

/** Validates a `POST /v1/enrol` body. @throws RustynetError `INVALID_INPUT`. */
export const parseEnrolRequest = checker(ajv.compile<EnrolRequest>(enrolSchema), 'body');
/** Validates a `POST /v1/node` body. @throws RustynetError `INVALID_INPUT`. */
export const parseSelfUpdate = checker(ajv.compile<NodeSelfUpdate>(selfUpdateSchema), 'body');
