// Checks every suite's definition shares (unit tests): id shape, areas, docs, registration.
// Each `it*` function registers one mocha test in the enclosing `describe`.
import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { PluginKind } from '@rustynet/plugin-api';
import { TEST_ID_PATTERN } from '../../src/suites/define.js';
import { suiteFor } from '../../src/suites/registry.js';

/** What the checks read of a suite's tests. */
export type TestIds = readonly { id: string }[];

/** docs/conformance.md (this file runs from `conformance-kit/dist/test/helpers/`). */
const CONFORMANCE_DOC = fileURLToPath(new URL('../../../../docs/conformance.md', import.meta.url));

/** Registers `ids are unique, well-formed <kind>.<area>.<name>`: unique ids of that shape, found by {@link TEST_ID_PATTERN}. */
export function itHasWellFormedIds(kind: PluginKind, tests: TestIds): void {
  it(`ids are unique, well-formed ${kind}.<area>.<name>`, () => {
    const ids = tests.map((t) => t.id);
    expect(new Set(ids).size).to.equal(ids.length);
    const shape = new RegExp(`^${kind}\\.[a-z0-9-]+\\.[a-z0-9-]+$`);
    for (const id of ids) {
      expect(id).to.match(shape);
      expect(TEST_ID_PATTERN.exec(`${id}: title`)?.[1]).to.equal(id);
    }
  });
}

/** Registers a test titled `title`: the ids cover every area in `areas`. */
export function itCoversAreas(title: string, tests: TestIds, areas: readonly string[]): void {
  it(title, () => {
    const found = new Set(tests.map((t) => t.id.split('.')[1]));
    for (const a of areas) expect(found).to.include(a);
  });
}

/** Registers `is registered for kind <kind>`: the registry has a suite factory for it. */
export function itIsRegistered(kind: PluginKind): void {
  it(`is registered for kind ${kind}`, () => {
    expect(suiteFor(kind)).to.be.a('function');
  });
}

/** Registers a test titled `title`: docs/conformance.md names every id in backquotes. */
export function itIsDocumented(title: string, tests: TestIds): void {
  it(title, () => {
    const doc = readFileSync(CONFORMANCE_DOC, 'utf8');
    for (const t of tests) expect(doc, t.id).to.include(`\`${t.id}\``);
  });
}
