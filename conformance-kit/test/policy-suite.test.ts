import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { MATRIX_RULES, MATRIX_V4, MATRIX_V6, policyTests } from '../src/suites/policy/index.js';
import { TEST_ID_PATTERN } from '../src/suites/define.js';
import { suiteFor } from '../src/suites/registry.js';

describe('policy suite definition (unit)', () => {
  it('ids are unique, well-formed policy.<area>.<name>', () => {
    const ids = policyTests.map((t) => t.id);
    expect(new Set(ids).size).to.equal(ids.length);
    for (const id of ids) {
      expect(id).to.match(/^policy\.[a-z0-9-]+\.[a-z0-9-]+$/);
      expect(TEST_ID_PATTERN.exec(`${id}: title`)?.[1]).to.equal(id);
    }
  });

  it('covers every area the issue names', () => {
    const areas = new Set(policyTests.map((t) => t.id.split('.')[1]));
    for (const a of ['manifest', 'state', 'enforce', 'update', 'bad-input', 'counters', 'teardown']) expect(areas).to.include(a);
  });

  it('is registered for kind policy', () => {
    expect(suiteFor('policy')).to.be.a('function');
  });

  it('the matrix names only rules that exist, probes both actions and all three protocols', () => {
    const ruleIds = new Set(MATRIX_RULES.map((r) => r.id));
    for (const f of [...MATRIX_V4, ...MATRIX_V6]) if (f.ruleId !== null) expect(ruleIds, `${f.from} ${f.proto}/${f.port}`).to.include(f.ruleId);
    for (const flows of [MATRIX_V4, MATRIX_V6]) {
      expect(new Set(flows.map((f) => f.action))).to.deep.equal(new Set(['accept', 'drop']));
      expect(new Set(flows.map((f) => f.proto))).to.deep.equal(new Set(['tcp', 'udp', 'icmp']));
      expect(flows.some((f) => f.ruleId === null), 'default deny probed').to.equal(true);
    }
    expect(MATRIX_V6.every((f) => f.v6)).to.equal(true);
  });

  it('docs/conformance.md documents every test id', () => {
    const doc = readFileSync(fileURLToPath(new URL('../../../docs/conformance.md', import.meta.url)), 'utf8');
    for (const t of policyTests) expect(doc, t.id).to.include(`\`${t.id}\``);
  });
});
