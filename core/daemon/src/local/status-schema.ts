/**
 * JSON Schema (ajv, draft-07 keywords plus `nullable`) of the status document {@link DaemonStatus},
 * and its validator. The CLI imports them through the `@rustynet/daemon/status-schema` entry
 * point, which loads only ajv and this file (not the daemon), so `rustynet status` keeps working
 * when the rest of the daemon package is broken. (ajv's `JSONSchemaType` cannot express the nullable objects
 * under strict null checks, so the daemon's unit tests validate a real status against it.)
 */
import { RustynetError } from '@rustynet/plugin-api';
import type { ValidateFunction } from 'ajv';
import { createAjv, formatAjvErrors } from '../util/ajv.js';
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
    state: { type: 'string', enum: ['up', 'down', 'starting', 'failed', 'expired'] },
    addresses: strings,
    netmap: {
      type: 'object',
      nullable: true,
      required: ['version', 'appliedAt', 'expiresAt'],
      properties: {
        version: { type: 'number' },
        appliedAt: { type: 'string' },
        expiresAt: { type: 'string' },
        expired: { type: 'boolean' },
      },
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
    exit: {
      type: 'object',
      nullable: true,
      required: ['node', 'serving', 'killSwitch', 'lanAccess', 'lastHandshakeAt'],
      properties: {
        node: { type: 'string', nullable: true },
        serving: { type: 'boolean' },
        killSwitch: { type: 'string', enum: ['off', 'armed', 'blocking'] },
        lanAccess: { type: 'boolean' },
        lastHandshakeAt: { type: 'string', nullable: true },
      },
    },
    dataPlane: {
      type: 'object',
      required: ['state', 'reason', 'restores', 'lastRestore'],
      properties: {
        state: { type: 'string', enum: ['ok', 'degraded', 'restoring'] },
        reason: nullableError,
        restores: {
          type: 'object',
          required: ['ok', 'failed'],
          properties: { ok: { type: 'integer', minimum: 0 }, failed: { type: 'integer', minimum: 0 } },
        },
        lastRestore: {
          type: 'object',
          nullable: true,
          required: ['at', 'result', 'durationMs', 'attempt'],
          properties: {
            at: { type: 'string' },
            result: { type: 'string', enum: ['ok', 'failed'] },
            durationMs: { type: 'number' },
            attempt: { type: 'integer', minimum: 1 },
          },
        },
      },
    },
    relays: {
      type: 'array',
      items: {
        type: 'object',
        required: ['id', 'registered', 'healthy', 'rttMs', 'home'],
        properties: {
          id: { type: 'string' },
          region: { type: 'string' },
          registered: { type: 'boolean' },
          healthy: { type: 'boolean' },
          rttMs: { type: 'number', nullable: true },
          home: { type: 'boolean' },
        },
      },
    },
    control: {
      type: 'object',
      required: ['refusal'],
      properties: {
        refusal: {
          type: 'object',
          nullable: true,
          required: ['reason', 'message', 'since', 'action'],
          properties: {
            reason: { type: 'string', enum: ['node-key-expired', 'node-expired', 'node-removed'] },
            message: { type: 'string' },
            since: { type: 'string' },
            action: { type: 'string' },
          },
        },
      },
    },
    audit: {
      type: 'object',
      required: ['ok', 'checkedAt'],
      properties: {
        ok: { type: 'boolean' },
        checkedAt: { type: 'string' },
        brokenAt: { type: 'integer', minimum: 1 },
        reason: { type: 'string' },
      },
    },
  },
} as const;

let compiled: ValidateFunction<DaemonStatus> | undefined;

/** True when `value` is a status document (see {@link daemonStatusSchema}); compiles once. */
export function isDaemonStatus(value: unknown): value is DaemonStatus {
  compiled ??= createAjv().compile<DaemonStatus>(daemonStatusSchema);
  return compiled(value);
}

/**
 * Checks a status document received from the local API.
 * @param source named in the error (e.g. `local API /v1/status`).
 * @returns `value`, typed.
 * @throws RustynetError `INTERNAL` listing the fields that do not match the schema (the daemon
 *   answered something else: another version, or not rustynetd).
 */
export function parseDaemonStatus(value: unknown, source = 'local API /v1/status'): DaemonStatus {
  if (isDaemonStatus(value)) return value;
  throw new RustynetError('INTERNAL', `${source} returned a document that is not a daemon status: ${formatAjvErrors(compiled?.errors)}`, {
    details: { errors: (compiled?.errors ?? []).slice(0, 10).map((e) => `${e.instancePath || '/'} ${e.message ?? ''}`) },
  });
}
