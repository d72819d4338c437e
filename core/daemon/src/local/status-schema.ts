/**
 * JSON Schema (ajv, draft-07 keywords plus `nullable`) of the status document {@link DaemonStatus}.
 * Plain data: the CLI imports it through the `@rustynet/daemon/status-schema` entry point, which
 * loads nothing else of the daemon. (ajv's `JSONSchemaType` cannot express the nullable objects
 * under strict null checks, so the daemon's unit tests validate a real status against it.)
 */
import type { DaemonStatus } from './status-types.js';

export type { DaemonStatus };

const error = {
  type: 'object',
  required: ['code', 'message', 'at'],
  properties: { code: { type: 'string' }, message: { type: 'string' }, at: { type: 'string' } },
} as const;
const nullableError = { ...error, nullable: true } as const;
const strings = { type: 'array', items: { type: 'string' } } as const;

/** Schema of `GET /v1/status` (extra properties are allowed, so a newer daemon stays readable). */
export const daemonStatusSchema = {
  $id: 'https://rustynet.dev/schemas/daemon-status.json',
  type: 'object',
  required: ['node', 'state', 'netmap', 'lastRejection', 'backend', 'peers', 'plugins', 'policy', 'dns'],
  properties: {
    node: { type: 'string' },
    state: { type: 'string', enum: ['up', 'down', 'starting', 'failed'] },
    netmap: {
      type: 'object',
      nullable: true,
      required: ['version', 'appliedAt', 'expiresAt'],
      properties: { version: { type: 'number' }, appliedAt: { type: 'string' }, expiresAt: { type: 'string' } },
    },
    lastRejection: nullableError,
    backend: {
      type: 'object',
      nullable: true,
      required: ['name', 'version', 'apiVersion', 'interfaces', 'listenPort'],
      properties: {
        name: { type: 'string' },
        version: { type: 'string' },
        apiVersion: { type: 'string' },
        interfaces: strings,
        listenPort: { type: 'integer', nullable: true },
      },
    },
    peers: {
      type: 'array',
      items: {
        type: 'object',
        required: ['id', 'endpoint', 'path', 'allowedIps', 'lastHandshakeAt', 'rxBytes', 'txBytes'],
        properties: {
          id: { type: 'string' },
          endpoint: { type: 'string', nullable: true },
          path: { type: 'string', enum: ['direct', 'relay'] },
          allowedIps: strings,
          lastHandshakeAt: { type: 'string', nullable: true },
          rxBytes: { type: 'number' },
          txBytes: { type: 'number' },
        },
      },
    },
    plugins: {
      type: 'array',
      items: {
        type: 'object',
        required: ['name', 'version', 'kind', 'apiVersion', 'capabilities'],
        properties: {
          name: { type: 'string' },
          version: { type: 'string' },
          kind: { type: 'string' },
          apiVersion: { type: 'string' },
          capabilities: { type: 'object', required: [] },
        },
      },
    },
    policy: {
      type: 'object',
      nullable: true,
      required: ['interfaces', 'ok', 'lastError', 'failures'],
      properties: { interfaces: strings, ok: { type: 'boolean' }, lastError: nullableError, failures: { type: 'number' } },
    },
    dns: {
      type: 'object',
      nullable: true,
      required: ['listen', 'ok', 'lastError', 'failures'],
      properties: { listen: strings, ok: { type: 'boolean' }, lastError: nullableError, failures: { type: 'number' } },
    },
  },
} as const;
