/**
 * Parses the per-rule named counters out of `nft -j list table inet <table>` (libnftables JSON,
 * `json_schema_version` 1; see libnftables-json(5), "COUNTER").
 */
import { RustynetError, type RuleCounter } from '@rustynet/plugin-api';
import { DEFAULT_COUNTER } from './compile.js';

/** Counters of one table. */
export interface TableCounters {
  /** Per-rule counters in rule order. */
  rules: Array<RuleCounter & { index: number }>;
  /** The final default-drop counter (absent if the table has none). */
  defaultDrop?: { packets: number; bytes: number };
}

/**
 * @param json stdout of `nft -j list table inet <table>`.
 * @throws RustynetError `POLICY_FAILED` when the text is not nft JSON.
 */
export function parseCounters(json: string, table: string): TableCounters {
  let doc: unknown;
  try {
    doc = JSON.parse(json);
  } catch (cause) {
    throw new RustynetError('POLICY_FAILED', 'nft -j output is not JSON', { cause });
  }
  const items = (doc as { nftables?: unknown }).nftables;
  if (!Array.isArray(items)) throw new RustynetError('POLICY_FAILED', 'nft -j output lacks the "nftables" array');
  const rules: TableCounters['rules'] = [];
  let defaultDrop: TableCounters['defaultDrop'];
  for (const item of items) {
    const c = (item as { counter?: Record<string, unknown> }).counter;
    if (!c || c['table'] !== table || c['family'] !== 'inet' || typeof c['name'] !== 'string') continue;
    const packets = Number(c['packets'] ?? 0);
    const bytes = Number(c['bytes'] ?? 0);
    if (c['name'] === DEFAULT_COUNTER) {
      defaultDrop = { packets, bytes };
      continue;
    }
    const m = /^r_(\d+)$/.exec(c['name']);
    if (!m) continue;
    const index = Number(m[1]);
    const ruleId = typeof c['comment'] === 'string' && c['comment'] !== '' ? c['comment'] : `rule-${index}`;
    rules.push({ index, ruleId, packets, bytes });
  }
  rules.sort((a, b) => a.index - b.index);
  return { rules, ...(defaultDrop && { defaultDrop }) };
}
