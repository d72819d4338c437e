import { expect } from 'chai';
import { MATRIX_RULES, MATRIX_V4, MATRIX_V6, policyTests } from '../src/suites/policy/index.js';
import { itCoversAreas, itHasWellFormedIds, itIsDocumented, itIsRegistered } from './helpers/suite-definition.js';

describe('policy suite definition (unit)', () => {
  itHasWellFormedIds('policy', policyTests);
  itCoversAreas('covers every area the issue names', policyTests, [
    'manifest',
    'state',
    'enforce',
    'interfaces',
    'update',
    'bad-input',
    'counters',
    'teardown',
  ]);
  itIsRegistered('policy');

  it('the matrix names only rules that exist, probes both actions and all three protocols', () => {
    const ruleIds = new Set(MATRIX_RULES.map((r) => r.id));
    for (const f of [...MATRIX_V4, ...MATRIX_V6])
      if (f.ruleId !== null) expect(ruleIds, `${f.from} ${f.proto}/${f.port}`).to.include(f.ruleId);
    for (const flows of [MATRIX_V4, MATRIX_V6]) {
      expect(new Set(flows.map((f) => f.action))).to.deep.equal(new Set(['accept', 'drop']));
      expect(new Set(flows.map((f) => f.proto))).to.deep.equal(new Set(['tcp', 'udp', 'icmp']));
      expect(
        flows.some((f) => f.ruleId === null),
        'default deny probed',
      ).to.equal(true);
    }
    expect(MATRIX_V6.every((f) => f.v6)).to.equal(true);
  });

  itIsDocumented('docs/conformance.md documents every test id', policyTests);
});
