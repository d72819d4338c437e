/**
 * @packageDocumentation
 * `@rustynet/policy-nftables`: the netmap's ACL enforced in the kernel with nftables. Default
 * deny, first match wins, established/related return traffic allowed, atomic updates
 * (one `nft -f -` transaction), per-rule counters and a pure `explain`.
 * See docs/policy.md.
 */
import type { PluginContext, PolicyPlugin } from '@rustynet/plugin-api';
import { NftablesPolicyPlugin } from './plugin.js';

export { NftablesPolicyPlugin, CAPABILITIES, DEFAULT_RULE_LABEL } from './plugin.js';
export { resolvePolicy } from './resolve.js';
export type { ResolvedPolicy, ResolvedRule, ResolvedSelector, ResolvedNode, AddressMatch, PortRange } from './resolve.js';
export { compileRuleset, deleteTableScript, ruleLines, ruleCounterName, ACL_CHAIN, DEFAULT_COUNTER } from './compile.js';
export type { CompileOptions } from './compile.js';
export { evaluatePacket, explainFlow, flowPackets, matchRule, type Packet, type Evaluation, type RuleMatch } from './evaluate.js';
export { parseCounters, type TableCounters } from './counters.js';
export { DEFAULT_OPTIONS, optionsSchema, resolveOptions, type PolicyOptions } from './options.js';

/**
 * Entry point called by the plugin loader. Touches nothing on the system.
 * Options are validated by the loader against the manifest's `configSchema` before this runs.
 */
export function createPlugin(context: PluginContext): PolicyPlugin & NftablesPolicyPlugin {
  return new NftablesPolicyPlugin(context);
}
