/**
 * @packageDocumentation
 * `@rustynet/dns-magic`: Magic DNS for mesh names. An authoritative DNS server (UDP and TCP) for
 * the mesh zone (default `rustynet`): `<name>.<zone>` and `<id>.<zone>` answer A/AAAA from the
 * netmap; see docs/dns.md for the rules, options and troubleshooting.
 */
import { RustynetError, isRustynetError, type PluginContext } from '@rustynet/plugin-api';
import { parseOptions } from './options.js';
import { DnsMagicPlugin } from './plugin.js';
import { normalizeZoneName } from './zone.js';

export { DnsMagicPlugin, DNS_MAGIC_CAPABILITIES, type DnsMagicStats } from './plugin.js';
export {
  dnsMagicConfigSchema,
  parseOptions,
  DEFAULTS,
  type DnsMagicOptions,
  type ForwarderOptions,
  type RateLimitOptions,
} from './options.js';
export { compileZone, normalizeZoneName, MAX_ADDRESSES_PER_NODE, type CompiledZone, type NodeRecords } from './zone.js';
export { TokenBucketLimiter } from './rate-limit.js';
export { SERVER_UDP_PAYLOAD, CLASSIC_UDP_PAYLOAD, RCODE, type RcodeName } from './responder.js';
export {
  renderResolvConf,
  installNetnsResolvConf,
  removeNetnsResolvConf,
  splitDnsCommands,
  applySplitDns,
  revertSplitDns,
  type ResolvConfOptions,
  type SplitDnsOptions,
  type CommandLine,
} from './host-resolver.js';

/**
 * Entry point named by `rustynet-plugin.json`. Builds the plugin without touching the system.
 * @throws RustynetError `CONFIG_INVALID` (field `options.<name>`) for bad options.
 */
export function createPlugin(context: PluginContext): DnsMagicPlugin {
  const options = parseOptions(context.options ?? {});
  try {
    normalizeZoneName(options.zone);
  } catch (err) {
    if (isRustynetError(err)) throw new RustynetError('CONFIG_INVALID', `options.${err.message}`, { field: 'options.zone' });
    throw err;
  }
  return new DnsMagicPlugin(context, options);
}
