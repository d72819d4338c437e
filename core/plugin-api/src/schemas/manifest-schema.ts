import { API_VERSION_PATTERN } from '../api-version.js';
import { SESSION_REESTABLISH_MAX_SECONDS } from '../types/capabilities.js';

const manifestSchemaDefinition = {
  $id: 'https://rustynet.dev/schemas/plugin-manifest-1.json',
  title: 'Rustynet plugin manifest',
  type: 'object',
  additionalProperties: false,
  required: ['name', 'version', 'kind', 'apiVersions', 'entry', 'capabilities'],
  properties: {
    $schema: { type: 'string' },
    name: {
      type: 'string',
      description: 'npm-style package name',
      pattern: '^(@[a-z0-9][a-z0-9._-]*/)?[a-z0-9][a-z0-9._-]*$',
      maxLength: 214,
    },
    version: {
      type: 'string',
      description: 'semantic version',
      pattern: '^(0|[1-9]\\d*)\\.(0|[1-9]\\d*)\\.(0|[1-9]\\d*)(-[0-9A-Za-z.-]+)?(\\+[0-9A-Za-z.-]+)?$',
    },
    kind: { enum: ['backend', 'policy', 'dns', 'relay'] },
    apiVersions: {
      type: 'array',
      minItems: 1,
      uniqueItems: true,
      items: { type: 'string', pattern: API_VERSION_PATTERN.source },
    },
    entry: { type: 'string', minLength: 1, pattern: '^\\./' },
    description: { type: 'string' },
    capabilities: {
      type: 'object',
      additionalProperties: false,
      properties: {
        roaming: { type: 'boolean' },
        ipv6: { type: 'boolean' },
        exitNode: { type: 'boolean' },
        lanRoutes: { type: 'boolean' },
        udpTransport: { type: 'boolean' },
        handshakeStats: { type: 'boolean' },
        maxPeers: { type: 'integer', minimum: 1 },
        allowedIpsUpdate: { type: 'boolean' },
        processPerPeer: { type: 'boolean' },
        persistentKeepalive: { type: 'boolean', description: 'backend: honours PeerConfig.persistentKeepalive; absent means true' },
        routesByAllowedIps: {
          type: 'boolean',
          description: 'backend: delivers a route to the peer whose allowed IPs contain the destination; absent means false',
        },
        sessionReestablishSeconds: {
          type: 'integer',
          minimum: 1,
          maximum: SESSION_REESTABLISH_MAX_SECONDS,
          description:
            'backend: longest time in seconds to carry traffic again after a peer restarts, is re-added or re-keyed (1-60); absent means the kit default',
        },
        counters: { type: 'boolean' },
        atomicUpdate: { type: 'boolean' },
        gateway: { type: 'boolean', description: 'policy: honours PolicyInput.gateway (exit node, kill switch); absent means false' },
        aaaa: { type: 'boolean' },
        forwarder: { type: 'boolean' },
        rateLimit: { type: 'boolean' },
        maxDatagram: { type: 'integer', minimum: 1 },
      },
    },
    configSchema: { type: 'object' },
    backend: {
      type: 'object',
      additionalProperties: false,
      required: ['protocol', 'peerKeySchema'],
      properties: {
        protocol: { type: 'string', pattern: '^[a-z][a-z0-9-]{0,31}$' },
        peerKeySchema: { type: 'object' },
      },
    },
  },
  if: { properties: { kind: { const: 'backend' } } },
  then: { required: ['backend'] },
} as const;

/**
 * JSON Schema (draft-07, as ajv validates by default) of `rustynet-plugin.json`.
 * See {@link PluginManifest} for the meaning of each field. Its type is the literal schema
 * (`as const`), so code can read nested members such as `properties.capabilities`.
 */
export const manifestSchema: typeof manifestSchemaDefinition = manifestSchemaDefinition;
