import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { relayTests } from '../src/suites/relay/index.js';
import { TEST_ID_PATTERN } from '../src/suites/define.js';

describe('relay suite definition (unit)', () => {
  it('ids are unique, well-formed relay.<area>.<name>', () => {
    const ids = relayTests.map((t) => t.id);
    expect(new Set(ids).size).to.equal(ids.length);
    for (const id of ids) {
      expect(id).to.match(/^relay\.[a-z0-9-]+\.[a-z0-9-]+$/);
      expect(TEST_ID_PATTERN.exec(`${id}: title`)?.[1]).to.equal(id);
    }
  });

  it('covers every area the relay contract names', () => {
    const areas = new Set(relayTests.map((t) => t.id.split('.')[1]));
    for (const a of ['manifest', 'state', 'path', 'register', 'forward', 'amplification', 'limits', 'flood', 'teardown']) expect(areas).to.include(a);
  });

  it('docs/conformance.md documents every relay test id', () => {
    const doc = readFileSync(fileURLToPath(new URL('../../../docs/conformance.md', import.meta.url)), 'utf8');
    for (const t of relayTests) expect(doc, t.id).to.include(`\`${t.id}\``);
  });
});
