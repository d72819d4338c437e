import { expect } from 'chai';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { backendTests } from '../src/suites/backend/index.js';
import { dnsTests } from '../src/suites/dns/index.js';
import { policyTests } from '../src/suites/policy/index.js';
import { relayTests } from '../src/suites/relay/index.js';
import { FIXTURES, readExpectations } from './helpers/self-test.js';

/** Test ids of each suite kind. */
const IDS: Record<string, Set<string>> = {
  backend: new Set(backendTests.map((t) => t.id)),
  policy: new Set(policyTests.map((t) => t.id)),
  dns: new Set(dnsTests.map((t) => t.id)),
  relay: new Set(relayTests.map((t) => t.id)),
};

/** Fixtures that are not "fails exactly one test" plugins: the loader-error one (exit code 2). */
const NOT_IN_EXPECTATIONS = new Set(['bad-manifest']);

/** Directories under fixtures/ holding a fixture plugin (a rustynet-plugin.json). */
function fixtureDirs(): string[] {
  return readdirSync(FIXTURES, { withFileTypes: true })
    .filter((d) => d.isDirectory() && existsSync(join(FIXTURES, d.name, 'rustynet-plugin.json')))
    .map((d) => d.name);
}

describe('fixture expectations: one schema-checked file for every suite (unit)', () => {
  const all = readExpectations();

  it('fixtures/expectations.json validates against fixtures/expectations.schema.json', () => {
    expect(Object.keys(all).length).to.be.greaterThan(60);
  });

  it('every fixture plugin has exactly one entry and every entry names a fixture plugin', () => {
    const dirs = fixtureDirs().filter((d) => !NOT_IN_EXPECTATIONS.has(d));
    expect(
      dirs.filter((d) => !(d in all)),
      'fixtures without an expectation',
    ).to.deep.equal([]);
    expect(
      Object.keys(all).filter((k) => !dirs.includes(k)),
      'expectations without a fixture plugin',
    ).to.deep.equal([]);
  });

  it("target and control are distinct tests of the fixture manifest's kind that exist in that suite", () => {
    const wrong: string[] = [];
    for (const [name, e] of Object.entries(all)) {
      const { kind } = JSON.parse(readFileSync(join(FIXTURES, name, 'rustynet-plugin.json'), 'utf8')) as { kind: string };
      const ids = IDS[kind];
      if (ids === undefined) wrong.push(`${name}: no suite for kind ${kind}`);
      else for (const id of [e.target, e.control]) if (!ids.has(id)) wrong.push(`${name}: ${id} is not a test of the ${kind} suite`);
      if (e.target === e.control) wrong.push(`${name}: target equals control`);
    }
    expect(wrong).to.deep.equal([]);
  });

  it('each suite kind has fixtures, and the per-kind selections the self-tests use partition the file', () => {
    const kinds = Object.keys(IDS);
    const per = kinds.map((k) => Object.keys(readExpectations(k)));
    for (const [i, k] of kinds.entries()) expect(per[i].length, `${k} fixtures`).to.be.greaterThan(0);
    expect(per.flat().sort()).to.deep.equal(Object.keys(all).sort());
  });

  it('an entry without its control or with a malformed id is refused, naming the schema', () => {
    const dir = mkdtempSync(join(tmpdir(), 'rnt-expect-'));
    try {
      const file = join(dir, 'expectations.json');
      writeFileSync(file, JSON.stringify({ fixtures: { x: { target: 'backend.peers.ping-two-peers', description: 'no control' } } }));
      expect(() => readExpectations(undefined, file)).to.throw(/expectations\.schema\.json.*control/);
      writeFileSync(file, JSON.stringify({ fixtures: { x: { target: 'ping', control: 'backend.a.b', description: 'bad id' } } }));
      expect(() => readExpectations(undefined, file)).to.throw(/pattern/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
