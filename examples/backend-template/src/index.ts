/**
 * @packageDocumentation
 * A Rustynet backend plugin, scaffolded from `examples/backend-template`
 * (`rustynet plugin init <name> --kind backend`). The daemon loads it through
 * `rustynet-plugin.json` -> `entry` -> {@link createPlugin}.
 */
import type { BackendPlugin, PluginContext } from '@rustynet/plugin-api';
import { TemplateBackend } from './backend.js';
import { createDataPlane } from './data-plane.js';

export { TemplateBackend, CAPABILITIES } from './backend.js';
export { PROTOCOL } from './protocol.js';

/**
 * Creates one backend instance. Must not touch the system (no devices, processes, sockets):
 * that happens in `start`.
 */
export function createPlugin(context: PluginContext): BackendPlugin {
  return new TemplateBackend(context, createDataPlane(context));
}
