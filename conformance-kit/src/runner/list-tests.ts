/**
 * `rustynet plugin test --list`: the tests a run would register for a plugin (id, title,
 * capability gate), read from the mocha suite the kind's factory built. Runs nothing.
 */
import type Mocha from 'mocha';
import { kitMeta, TEST_ID_PATTERN } from '../suites/define.js';

/** One listed test. */
export interface ListedTest {
  id: string;
  title: string;
  /** Capability gating the test (`roaming`, `!roaming`, ...); absent when ungated. */
  gate?: string;
}

/** Every test registered below `suite` (depth first, in run order) whose full title matches `grep`. */
export function listTests(suite: Mocha.Suite, grep?: RegExp): ListedTest[] {
  const out: ListedTest[] = [];
  const visit = (s: Mocha.Suite): void => {
    for (const t of s.tests) {
      if (grep && !grep.test(t.fullTitle())) continue;
      const meta = kitMeta(t);
      const id = meta.kitId ?? TEST_ID_PATTERN.exec(t.title)?.[1] ?? t.title;
      out.push({ id, title: t.title.replace(/^[^:]+:\s*/, ''), ...(meta.kitGate !== undefined && { gate: meta.kitGate }) });
    }
    s.suites.forEach(visit);
  };
  visit(suite);
  return out;
}

/** The `--list` output: one line per test, `<id>  [gate]  <title>`, ids aligned. */
export function listText(tests: readonly ListedTest[]): string {
  const w = Math.max(0, ...tests.map((t) => t.id.length));
  const g = Math.max(0, ...tests.map((t) => (t.gate ?? '-').length));
  return tests.map((t) => `${t.id.padEnd(w)}  ${(t.gate ?? '-').padEnd(g)}  ${t.title}\n`).join('') + `${tests.length} tests\n`;
}
