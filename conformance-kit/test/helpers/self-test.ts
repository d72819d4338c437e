// Shared scaffolding for the kit's own integration tests ("self-tests"): a full run of a reference
// plugin through `runPluginTest`, its JUnit output, and broken fixtures that must each fail exactly
// their target test while passing a control test. Each `it*` function registers mocha tests in the
// enclosing `describe`; the per-suite tables and thresholds stay in the test files.
import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { Ajv, type ValidateFunction } from 'ajv';
import { runPluginTest } from '../../src/index.js';
import { RUN_DIR } from '../../src/harness/index.js';
import type { ConformanceReport } from '../../src/runner/report.js';
import { compileReportSchema } from './report-schema.js';

/** Repository root (this file runs from `conformance-kit/dist/test/helpers/`). */
export const ROOT = fileURLToPath(new URL('../../../../', import.meta.url));
/** The conformance-kit package directory. */
export const KIT = join(ROOT, 'conformance-kit');
/** Directory of the broken fixture plugins. */
export const FIXTURES = join(KIT, 'fixtures');

/** A broken fixture's expectation: it must fail `target` and pass `control` (both test ids `<kind>.<area>.<name>`). */
export interface FixtureExpectation {
  target: string;
  control: string;
  /** The one bug the fixture has. */
  description?: string;
}

/** The one expectations file of every suite's broken fixtures (schema: `fixtures/expectations.schema.json`). */
export const EXPECTATIONS_PATH = join(FIXTURES, 'expectations.json');
/** JSON Schema of {@link EXPECTATIONS_PATH}. */
export const EXPECTATIONS_SCHEMA_PATH = join(FIXTURES, 'expectations.schema.json');

/**
 * Reads and schema-checks the expectations file (`{ "fixtures": { "<fixture dir>": { target,
 * control, description } } }`, validated with ajv against {@link EXPECTATIONS_SCHEMA_PATH}).
 * @param kind when given, only the fixtures whose target is a test of this kind (`<kind>.…`).
 * @throws Error listing the schema errors when the file does not validate.
 */
export function readExpectations(kind?: string, path = EXPECTATIONS_PATH): Record<string, FixtureExpectation> {
  const data = JSON.parse(readFileSync(path, 'utf8')) as { fixtures: Record<string, FixtureExpectation> };
  const validate = new Ajv({ allErrors: true, strict: false }).compile(
    JSON.parse(readFileSync(EXPECTATIONS_SCHEMA_PATH, 'utf8')) as object,
  );
  if (!validate(data)) throw new Error(`${path} does not match ${EXPECTATIONS_SCHEMA_PATH}: ${JSON.stringify(validate.errors)}`);
  return Object.fromEntries(Object.entries(data.fixtures).filter(([, e]) => kind === undefined || e.target.startsWith(`${kind}.`)));
}

/** A writable stream that collects everything written to it in `text` (for runner stdout/stderr). */
export function sink(): Writable & { text: string } {
  const w = new Writable({
    write(chunk: Buffer, _enc, cb) {
      w.text += chunk.toString();
      cb();
    },
  }) as Writable & { text: string };
  w.text = '';
  return w;
}

/** Escapes the dots of a test id for use in a `--grep` regular expression. */
export const esc = (id: string): string => id.replace(/\./g, '\\.');

/** Reads a JSON report written by `runPluginTest({ reporter: 'json', output })`. */
export function readReport(path: string): ConformanceReport {
  return JSON.parse(readFileSync(path, 'utf8')) as ConformanceReport;
}

/** Ids of the report's tests with the given status, in report order. */
export function idsWithStatus(report: ConformanceReport, status: 'passed' | 'failed' | 'skipped'): string[] {
  return report.tests.filter((t) => t.status === status).map((t) => t.id);
}

let validator: ValidateFunction | undefined;
/** Asserts that `report` validates against conformance-kit/schemas/report.schema.json (ajv + ajv-formats). */
export function expectValidReport(report: ConformanceReport): void {
  validator ??= compileReportSchema();
  const validate = validator;
  expect(validate(report), JSON.stringify(validate.errors)).to.equal(true);
}

/**
 * Registers before/after hooks in the enclosing `describe` that create a temporary directory (name
 * prefix `prefix`) and remove it afterwards. With `requireBuilt` (a plugin directory), the whole
 * block is skipped when that plugin has no `dist/src/index.js`. Returns a getter for the directory.
 */
export function useTmpDir(prefix: string, opts: { requireBuilt?: string } = {}): () => string {
  let tmp: string | undefined;
  before(function () {
    if (opts.requireBuilt !== undefined && !existsSync(join(opts.requireBuilt, 'dist', 'src', 'index.js'))) this.skip();
    tmp = mkdtempSync(join(tmpdir(), prefix));
  });
  after(() => tmp && rmSync(tmp, { recursive: true, force: true }));
  return () => {
    if (tmp === undefined) throw new Error('temporary directory used outside a test');
    return tmp;
  };
}

/** Options of {@link itPassesReferenceRun}. */
export interface ReferenceRunOptions {
  /** Test title. */
  title: string;
  /** Reference plugin directory. */
  plugin: string;
  /** Plugin kind the report must name; every test id must be `<kind>.<area>.<name>`. */
  kind: string;
  /** Name in the timing line printed after the run, e.g. `dns`, `WireGuard`. */
  label: string;
  /** The full run must take less than this many seconds (wall clock). */
  maxSeconds: number;
  /** When set: more than this many tests must pass, and every skipped test must carry a reason. */
  passedMoreThan?: number;
  /** Also assert that no test network of this process is still registered in RUN_DIR or alive. */
  leavesNothingBehind?: boolean;
  /** Suite-specific checks of the report, run after the common ones; `log` is the runner output. */
  check?: (report: ConformanceReport, log: string) => void;
  /** Getter for the temporary directory (from {@link useTmpDir}). */
  tmp: () => string;
}

/**
 * Registers a test that runs every test of the suite against the reference plugin with the JSON
 * reporter and asserts: the report validates against the schema, exit code 0, the report names
 * `kind`, no test failed, ids are `<kind>.<area>.<name>`, the options' extra checks, and the time bound.
 */
export function itPassesReferenceRun(o: ReferenceRunOptions): void {
  it(o.title, async () => {
    const output = join(o.tmp(), 'report.json');
    const out = sink();
    const t0 = Date.now();
    const code = await runPluginTest({ plugin: o.plugin, reporter: 'json', output, stdout: out, stderr: out, cwd: ROOT });
    const seconds = (Date.now() - t0) / 1000;
    const report = readReport(output);
    expectValidReport(report);
    expect(code, out.text).to.equal(0);
    expect(report.plugin.kind).to.equal(o.kind);
    expect(report.summary.failed, out.text).to.equal(0);
    if (o.passedMoreThan !== undefined) {
      expect(report.summary.passed).to.be.greaterThan(o.passedMoreThan);
      for (const s of report.tests.filter((t) => t.status === 'skipped')) expect(s.skipReason, s.id).to.be.a('string');
    }
    const idShape = new RegExp(`^${o.kind}\\.[a-z0-9-]+\\.[a-z0-9-]+$`);
    for (const t of report.tests) expect(t.id).to.match(idShape);
    o.check?.(report, out.text);
    expect(seconds, `full run took ${seconds} s`).to.be.lessThan(o.maxSeconds);
    if (o.leavesNothingBehind) {
      // every run of ours is registered in RUN_DIR with our pid until its teardown finished
      const owned = readdirSync(RUN_DIR).filter((f) => readFileSync(join(RUN_DIR, f), 'utf8').trim() === String(process.pid));
      expect(owned, 'test networks of this process still registered').to.deep.equal([]);
      const left = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' });
      for (const f of owned) expect(left).not.to.include(f.replace(/\.pid$/, ''));
    }
    console.log(`      (full ${o.label} run: ${seconds.toFixed(1)} s, ${report.summary.passed} passed, ${report.summary.skipped} skipped)`);
  });
}

/** Options of {@link itWritesJunit}. */
export interface JunitRunOptions {
  /** Test title. */
  title: string;
  /** Reference plugin directory. */
  plugin: string;
  /** `--grep` selecting the (quick) tests to run. */
  grep: string;
  /** Each string must occur in the XML, each RegExp must match it. */
  expectXml: Array<string | RegExp>;
  /** Getter for the temporary directory (from {@link useTmpDir}). */
  tmp: () => string;
}

/** Registers a test that runs the `grep` selection with the JUnit reporter: exit code 0 and `expectXml` all hold. */
export function itWritesJunit(o: JunitRunOptions): void {
  it(o.title, async () => {
    const output = join(o.tmp(), 'junit.xml');
    const out = sink();
    const code = await runPluginTest({ plugin: o.plugin, reporter: 'junit', output, stdout: out, stderr: out, cwd: ROOT, grep: o.grep });
    expect(code, out.text).to.equal(0);
    const xml = readFileSync(output, 'utf8');
    for (const e of o.expectXml) {
      if (typeof e === 'string') expect(xml).to.include(e);
      else expect(xml).to.match(e);
    }
  });
}

/** Options of {@link itCatchesBrokenFixtures}. */
export interface FixtureSelfTestOptions {
  /** Fixture directory name (under `dir`) => the test that must catch it and a control test. */
  fixtures: Record<string, FixtureExpectation>;
  /** Directory holding the fixtures. Default {@link FIXTURES}. */
  dir?: string;
  /** Test title per fixture. Default `<name>: fails <target> and passes <control>`. */
  title?: (name: string, expectation: FixtureExpectation) => string;
  /** The target's failure must also carry `expected` and `actual`. Default true. */
  requireExpectedActual?: boolean;
  /** Getter for the temporary directory (from {@link useTmpDir}). */
  tmp: () => string;
}

/**
 * Registers one test per fixture: running only its target and control tests (seed 42) must fail
 * exactly the target and pass exactly the control (exit code 1), and the target's failure must name
 * the step and the test id.
 */
export function itCatchesBrokenFixtures(o: FixtureSelfTestOptions): void {
  const dir = o.dir ?? FIXTURES;
  const title = o.title ?? ((name, { target, control }) => `${name}: fails ${target} and passes ${control}`);
  for (const [name, { target, control }] of Object.entries(o.fixtures)) {
    it(title(name, { target, control }), async () => {
      const output = join(o.tmp(), `${name}.json`);
      const out = sink();
      const code = await runPluginTest({
        plugin: join(dir, name),
        grep: `(${esc(target)}|${esc(control)}):`,
        reporter: 'json',
        output,
        stdout: out,
        stderr: out,
        seed: 42,
        cwd: ROOT,
      });
      const report = readReport(output);
      expect(idsWithStatus(report, 'failed'), out.text).to.deep.equal([target]);
      expect(idsWithStatus(report, 'passed'), out.text).to.deep.equal([control]);
      expect(code).to.equal(1);
      const f = report.tests.find((t) => t.id === target)!.failure!;
      expect(f.step, 'failure names the step').to.be.a('string').and.not.equal('');
      expect(f.message).to.include(target);
      if (o.requireExpectedActual ?? true) {
        expect(f).to.have.property('expected');
        expect(f).to.have.property('actual');
      }
    });
  }
}
