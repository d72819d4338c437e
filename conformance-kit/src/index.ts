/**
 * @packageDocumentation
 * `@rustynet/conformance-kit`: conformance suites per plugin kind, the test-network harness
 * (`@rustynet/conformance-kit/harness`), the runner behind `rustynet plugin test`, reports,
 * and the plugin scaffolder behind `rustynet plugin init`.
 */
export {
  runPluginTest,
  EXIT_PASSED,
  EXIT_FAILED,
  EXIT_LOAD_ERROR,
  KIT_NAME,
  KIT_VERSION,
  type RunPluginTestOptions,
} from './runner/run-plugin-test.js';
export {
  toJUnit,
  summaryText,
  REPORT_SCHEMA_ID,
  type ConformanceReport,
  type TestResult,
  type TestFailure,
  type TestStatus,
} from './runner/report.js';
export { suiteFor, registerSuite, suiteKinds, type SuiteFactory, type SuiteRunSettings } from './suites/registry.js';
export { ConformanceFailure, ConformanceTimeoutError } from './suites/errors.js';
export { StepContext } from './suites/step-context.js';
export { registerTests, TEST_ID_PATTERN, type KitTest } from './suites/define.js';
export { SuiteFixture } from './suites/common/fixture.js';
export { describeSuite } from './suites/common/describe-suite.js';
export type { SuiteOptions } from './suites/common/options.js';
export { backendSuite, backendTests } from './suites/backend/index.js';
export { policySuite, policyTests } from './suites/policy/index.js';
export { dnsSuite, dnsTests } from './suites/dns/index.js';
export { relaySuite, relayTests } from './suites/relay/index.js';
export {
  PluginHost,
  RemotePluginError,
  PluginCallTimeoutError,
  type CallExtras,
  type PluginHostOptions,
} from './host/plugin-host-client.js';
export { initPlugin, type InitPluginOptions, type InitPluginResult } from './init/init-plugin.js';
