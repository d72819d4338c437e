/**
 * @packageDocumentation
 * The relay conformance suite for mocha (`rustynet plugin test <relay plugin>`).
 *
 * A relay plugin package provides the relay client (`createPlugin`, kind `relay`) and must also
 * export `createRelayServer` (see docs/conformance.md, "Relay tests"): the suite runs that server
 * in one namespace and the clients, through the plugin host, in others.
 *
 * ```ts
 * import { relaySuite } from '<conformance-kit>/dist/src/suites/relay/index.js';
 * relaySuite({ plugin: '.' }); // in a mocha test file; needs root
 * ```
 */
import type { KitTest } from '../define.js';
import { describeSuite } from '../common/describe-suite.js';
import { RelayFixture, type RelaySuiteOptions } from './fixture.js';
import { amplificationTests } from './tests/amplification.js';
import { failoverTests } from './tests/failover.js';
import { floodTests } from './tests/flood.js';
import { forwardTests } from './tests/forward.js';
import { identityTests } from './tests/identity.js';
import { clientTests } from './tests/client.js';
import { limitsTests } from './tests/limits.js';
import { manifestTests } from './tests/manifest.js';
import { pathTests } from './tests/path.js';
import { registerTests } from './tests/register.js';
import { sessionsTests } from './tests/sessions.js';
import { stateTests } from './tests/state.js';
import { teardownTests } from './tests/teardown.js';

export { RelayFixture, type RelaySuiteOptions, RATE_LIMITS, MAIN_LIMITS, RELAY_PORT, RATE_RELAY_PORT } from './fixture.js';

/** Every relay test, in run order. Ids are stable API (see docs/conformance.md). */
export const relayTests: readonly KitTest<RelayFixture>[] = [
  ...manifestTests,
  ...stateTests,
  ...pathTests,
  ...registerTests,
  ...forwardTests,
  ...amplificationTests,
  ...limitsTests,
  ...floodTests,
  ...sessionsTests,
  ...clientTests,
  ...identityTests,
  ...failoverTests,
  ...teardownTests,
];

/**
 * Registers the relay conformance suite with mocha's BDD globals: one `describe` holding every
 * test of {@link relayTests}, titled `<id>: <what it asserts>`. The suite shares one test network
 * (hosts relay, a, b, c, d), built on first use and removed in `after` (and on exit or SIGINT).
 * Requires root.
 * @returns the fixture.
 */
export function relaySuite(options: RelaySuiteOptions): RelayFixture {
  return describeSuite('relay', relayTests, new RelayFixture(options));
}
