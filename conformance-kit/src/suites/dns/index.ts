/**
 * @packageDocumentation
 * The dns conformance suite for mocha: a DNS plugin serving the mesh zone in one namespace,
 * queried with `dig` from another.
 *
 * ```ts
 * import { runPluginTest } from '@rustynet/conformance-kit';
 * await runPluginTest({ plugin: 'plugins/dns-magic' }); // picks this suite by manifest kind; needs root
 * ```
 * Inside a mocha run, `dnsSuite({ plugin: '.' })` registers the tests (import it from this module).
 */
import type { KitTest } from '../define.js';
import { describeSuite } from '../common/describe-suite.js';
import { DnsFixture, type DnsSuiteOptions } from './fixture.js';
import { configTests } from './tests/config.js';
import { manifestTests } from './tests/manifest.js';
import { namesTests } from './tests/names.js';
import { recordsTests } from './tests/records.js';
import { robustnessTests } from './tests/robustness.js';
import { startTests } from './tests/start.js';
import { stateTests } from './tests/state.js';
import { teardownTests } from './tests/teardown.js';
import { transportTests } from './tests/transport.js';
import { updateTests } from './tests/update.js';

export { DnsFixture, parseDig, DNS_PORT, ZONE, type DnsSuiteOptions, type DigResult, type DigRecord } from './fixture.js';
export { DNS_CAPABILITY_KEYS } from './tests/manifest.js';
export { malformedMessages } from './tests/robustness.js';

/** Every dns test, in run order. Ids (`dns.<area>.<name>`) are stable API (see docs/conformance.md). */
export const dnsTests: readonly KitTest<DnsFixture>[] = [
  ...manifestTests,
  ...recordsTests,
  ...namesTests,
  ...transportTests,
  ...updateTests,
  ...robustnessTests,
  ...configTests,
  ...stateTests,
  ...startTests,
  ...teardownTests,
];

/**
 * Registers the dns conformance suite with mocha's BDD globals (`describe`, `it`, `after`): one
 * `describe` holding every test of {@link dnsTests}, titled `<id>: <what it asserts>`. The suite
 * shares one test network (hosts a, b, c) built on first use and removed in `after` (and on exit
 * or SIGINT). Requires root and `dig` (dnsutils).
 *
 * @param options the plugin (package name or path) and run settings.
 * @returns the fixture.
 */
export function dnsSuite(options: DnsSuiteOptions): DnsFixture {
  return describeSuite('dns', dnsTests, new DnsFixture(options));
}
