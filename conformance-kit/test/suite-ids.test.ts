import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { backendTests } from '../src/suites/backend/index.js';
import { TEST_ID_PATTERN } from '../src/suites/define.js';

describe('backend suite definition (unit)', () => {
  it('ids are unique, well-formed backend.<area>.<name>', () => {
    const ids = backendTests.map((t) => t.id);
    expect(new Set(ids).size).to.equal(ids.length);
    for (const id of ids) {
      expect(id).to.match(/^backend\.[a-z0-9-]+\.[a-z0-9-]+$/);
      expect(TEST_ID_PATTERN.exec(`${id}: title`)?.[1]).to.equal(id);
    }
  });

  it('covers every area the contract names', () => {
    const areas = new Set(backendTests.map((t) => t.id.split('.')[1]));
    for (const a of ['manifest', 'state', 'peers', 'endpoints', 'routes', 'stats', 'encryption', 'secrets', 'bad-input', 'teardown']) expect(areas).to.include(a);
  });

  it('docs/conformance.md documents every test id', () => {
    const doc = readFileSync(fileURLToPath(new URL('../../../docs/conformance.md', import.meta.url)), 'utf8');
    for (const t of backendTests) expect(doc, t.id).to.include(`\`${t.id}\``);
  });
});
