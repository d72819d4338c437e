/**
 * @packageDocumentation
 * `@rustynet/plugin-api`: the contracts between the Rustynet core and its plugins. Types,
 * interfaces, error codes, JSON Schemas and the API version; no implementation.
 */
export * from './api-version.js';
export * from './errors.js';
export * from './call-options.js';
export * from './manifest.js';
export * from './context.js';
export * from './hooks.js';
export * from './types/node-id.js';
export * from './types/endpoint.js';
export * from './types/cidr.js';
export * from './types/peer.js';
export * from './types/route.js';
export * from './types/acl.js';
export * from './types/netmap.js';
export * from './types/netmap-delta.js';
export * from './types/capabilities.js';
export * from './types/stats.js';
export * from './services/logger.js';
export * from './services/command-runner.js';
export * from './services/metrics.js';
export * from './services/clock.js';
export * from './services/state-store.js';
export * from './plugins/plugin.js';
export * from './plugins/backend.js';
export * from './plugins/policy.js';
export * from './plugins/dns.js';
export * from './plugins/relay.js';
export * from './schemas/manifest-schema.js';
export * from './schemas/netmap-schema.js';
export * from './schemas/netmap-delta-schema.js';
