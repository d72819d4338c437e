import type { PluginManifest } from '@rustynet/plugin-api';

/** Outcome of one test. `skipped` never counts as passed. */
export type TestStatus = 'passed' | 'failed' | 'skipped';

/** A failed test's details (ESLint RuleTester style). */
export interface TestFailure {
  /** What went wrong, first line first. */
  message: string;
  /** What the contract requires (value or words); absent when unknown. */
  expected?: unknown;
  /** What the plugin did. */
  actual?: unknown;
  /** The step of the test that failed. */
  step?: string;
  /** Error class name, e.g. `ConformanceFailure`, `ConformanceTimeoutError`. */
  type: string;
  /** Plugin output tail and hook timeline at the time of the failure. */
  diagnostics?: string;
}

/** One test in a {@link ConformanceReport}. */
export interface TestResult {
  /** Stable id `<kind>.<area>.<name>`. */
  id: string;
  /** What the test asserts, in words. */
  title: string;
  /** `passed`, `failed` or `skipped`. */
  status: TestStatus;
  /** How long the test ran, in milliseconds (0 when skipped). */
  durationMs: number;
  /** Capability gating the test (`roaming`, `!roaming`, ...). */
  gate?: string;
  /** Why the test was skipped (a capability the plugin does not claim, the profile); only when skipped. */
  skipReason?: string;
  /** Why the test failed; present only when `status` is `failed`. */
  failure?: TestFailure;
  /** Measurements the test reported (e.g. `cpuPercent` under a flood); absent when none. */
  measurements?: Record<string, number | string>;
}

/** The JSON report (`--reporter json`), validated by `schemas/report.schema.json`. */
export interface ConformanceReport {
  /** Always {@link REPORT_SCHEMA_ID}. */
  $schema: string;
  /** Version of this report format. */
  reportVersion: 1;
  /** The kit that ran. */
  kit: {
    /** Package name, `@rustynet/conformance-kit`. */
    name: string;
    /** Package version. */
    version: string;
  };
  /** Plugin API version of the kit (host side). */
  apiVersion: string;
  /** API version negotiated with the plugin; null when it could not be loaded. */
  negotiatedApiVersion: string | null;
  /** The plugin under test. */
  plugin: {
    /** Package name or path as given on the command line. */
    spec: string;
    /** Manifest name; null when the manifest could not be read. */
    name: string | null;
    /** Manifest version; null when unknown. */
    version: string | null;
    /** Plugin kind; null when unknown. */
    kind: string | null;
  };
  /** The plugin's manifest; null when it could not be read. */
  manifest: PluginManifest | null;
  /** `full` or `quick`. */
  profile: string;
  /** Seed of the generated names and payloads (pass `--seed` to reproduce). */
  seed: number;
  /** Factor applied to every deadline. */
  timeoutMultiplier: number;
  /** The `--grep` pattern, or null. */
  grep: string | null;
  /** Policy suites only: the backend plugin underneath (spec as given, or from the env / the default). */
  backend?: string;
  /**
   * Backend suites only, when the plugin declares it: its `sessionReestablishSeconds` capability,
   * the bound the kit waited for traffic in the tests that re-establish a session (multiplied by
   * {@link ConformanceReport.timeoutMultiplier}). Absent: the kit's default pings applied.
   */
  sessionReestablishSeconds?: number;
  /** Where the run happened. */
  environment: {
    /** Node.js version, e.g. `v20.19.0`. */
    node: string;
    /** `process.platform`, e.g. `linux`. */
    platform: string;
    /** `process.arch`, e.g. `x64`. */
    arch: string;
    /** Kernel release (`uname -r`). */
    kernel: string;
    /** Number of CPUs. */
    cpus: number;
    /** First line of `--version` of each network tool the kit uses; null when missing. */
    tools: Record<string, string | null>;
  };
  /** Start of the run, ISO 8601 UTC without milliseconds. */
  startedAt: string;
  /** End of the run, ISO 8601 UTC without milliseconds. */
  finishedAt: string;
  /** Length of the run, in milliseconds. */
  durationMs: number;
  /** Counts of the tests by status. */
  summary: {
    /** Tests that ran or were skipped. */
    total: number;
    /** Tests that passed. */
    passed: number;
    /** Tests that failed. */
    failed: number;
    /** Tests that were skipped (never counted as passed). */
    skipped: number;
  };
  /** `passed` when every test that ran passed (skips allowed) and no suite error happened. */
  result: 'passed' | 'failed' | 'error';
  /** Every test, in run order. */
  tests: TestResult[];
  /** Errors outside tests (fixture teardown, loader errors). */
  errors: {
    /** What went wrong. */
    message: string;
    /** Stable error code, when there is one. */
    code?: string;
  }[];
}

/**
 * The text report's note on a declared `sessionReestablishSeconds` (so a reader sees the backend
 * relied on it): the value and where the kit used it.
 */
export function sessionNote(seconds: number): string {
  return `sessionReestablishSeconds=${seconds} (declared: tests that re-establish a session wait up to ${seconds} s for traffic)`;
}

/** `$id` of the report schema. */
export const REPORT_SCHEMA_ID = 'https://rustynet.dev/schemas/conformance-report-1.json';

function esc(s: string): string {
  return (
    s
      // control characters are not allowed in XML 1.0: drop them (intended)
      // eslint-disable-next-line no-control-regex
      .replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f]/g, '')
      .replace(/&/g, '&amp;')
      .replace(/</g, '&lt;')
      .replace(/>/g, '&gt;')
      .replace(/"/g, '&quot;')
  );
}

/** Renders a report as JUnit XML (the common Jenkins/GitLab/GitHub schema). */
export function toJUnit(r: ConformanceReport): string {
  const name = `rustynet-conformance ${r.plugin.name ?? r.plugin.spec}`;
  const props = [
    ['kit.version', r.kit.version],
    ['api.version', r.apiVersion],
    ['plugin.name', r.plugin.name ?? ''],
    ['plugin.version', r.plugin.version ?? ''],
    ['profile', r.profile],
    ['seed', String(r.seed)],
    ['node', r.environment.node],
    ['kernel', r.environment.kernel],
  ];
  const cases = r.tests.map((t) => {
    const classname = t.id.split('.').slice(0, 2).join('.');
    // the name is the stable id alone (CI history keys on it); the title is a property
    const head = `    <testcase classname="${esc(classname)}" name="${esc(t.id)}" time="${(t.durationMs / 1000).toFixed(3)}">`;
    const tprops = [['title', t.title], ...(t.gate !== undefined ? [['gate', t.gate]] : []), ...Object.entries(t.measurements ?? {})].map(
      ([k, v]) => `        <property name="${esc(k)}" value="${esc(String(v))}"/>`,
    );
    const propsXml = `\n      <properties>\n${tprops.join('\n')}\n      </properties>`;
    if (t.status === 'passed') return `${head}${propsXml}\n    </testcase>`;
    if (t.status === 'skipped') return `${head}${propsXml}\n      <skipped message="${esc(t.skipReason ?? 'skipped')}"/>\n    </testcase>`;
    const f = t.failure ?? { message: 'failed', type: 'Error' };
    const body = [
      `step: ${f.step ?? '?'}`,
      `expected: ${JSON.stringify(f.expected)}`,
      `actual: ${JSON.stringify(f.actual)}`,
      '',
      f.message,
    ].join('\n');
    return `${head}${propsXml}\n      <failure message="${esc(f.message.split('\n')[0] ?? '')}" type="${esc(f.type)}">${esc(body)}</failure>\n    </testcase>`;
  });
  const errs = r.errors.map(
    (e, i) =>
      `    <testcase classname="kit" name="kit.error.${i}" time="0">\n      <error message="${esc(e.message.split('\n')[0] ?? '')}" type="${esc(e.code ?? 'Error')}">${esc(e.message)}</error>\n    </testcase>`,
  );
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites name="${esc(name)}" tests="${r.summary.total + r.errors.length}" failures="${r.summary.failed}" errors="${r.errors.length}" skipped="${r.summary.skipped}" time="${(r.durationMs / 1000).toFixed(3)}">`,
    `  <testsuite name="${esc(name)}" tests="${r.summary.total + r.errors.length}" failures="${r.summary.failed}" errors="${r.errors.length}" skipped="${r.summary.skipped}" time="${(r.durationMs / 1000).toFixed(3)}" timestamp="${r.startedAt}">`,
    '    <properties>',
    ...props.map(([k, v]) => `      <property name="${esc(k)}" value="${esc(v)}"/>`),
    '    </properties>',
    ...cases,
    ...errs,
    '  </testsuite>',
    '</testsuites>',
    '',
  ].join('\n');
}

/** The readable end-of-run summary printed by every reporter. */
export function summaryText(r: ConformanceReport): string {
  const lines: string[] = [];
  const failed = r.tests.filter((t) => t.status === 'failed');
  if (failed.length) {
    lines.push('', 'Failures:');
    failed.forEach((t, i) => {
      lines.push('', `${i + 1}) ${t.id}: ${t.title}`, ...(t.failure?.message ?? '').split('\n').map((l) => `   ${l}`));
    });
  }
  for (const e of r.errors) lines.push('', `rustynet: ${e.code ?? 'INTERNAL'}: ${e.message}`);
  const skipped = r.tests.filter((t) => t.status === 'skipped');
  if (skipped.length) {
    lines.push('', 'Skipped (not counted as passed):');
    for (const t of skipped) lines.push(`  - ${t.id}: ${t.skipReason ?? ''}`);
  }
  lines.push(
    '',
    `${r.plugin.name ?? r.plugin.spec}@${r.plugin.version ?? '?'} (${r.plugin.kind ?? '?'}, API ${r.negotiatedApiVersion ?? '?'}) profile=${r.profile} seed=${r.seed}`,
    ...(r.sessionReestablishSeconds !== undefined ? [sessionNote(r.sessionReestablishSeconds)] : []),
    `${r.summary.passed} passed, ${r.summary.failed} failed, ${r.summary.skipped} skipped, ${r.errors.length} errors in ${(r.durationMs / 1000).toFixed(1)} s: ${r.result.toUpperCase()}`,
  );
  return lines.join('\n') + '\n';
}
