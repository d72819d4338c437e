/**
 * @packageDocumentation
 * The policy conformance suite for mocha: a policy plugin enforcing an ACL on node a of a real
 * mesh (the WireGuard reference backend by default, loaded by package name at run time), probed
 * with real TCP, UDP and ICMP from b and c.
 *
 * ```ts
 * import { runPluginTest } from '@rustynet/conformance-kit';
 * await runPluginTest({ plugin: 'plugins/policy-nftables' }); // picks this suite by manifest kind; needs root
 * ```
 * Inside a mocha run, `policySuite({ plugin: '.' })` registers the tests (import it from this module).
 */
import type { KitTest } from '../define.js';
import { describeSuite } from '../common/describe-suite.js';
import { PolicyFixture, type PolicySuiteOptions } from './fixture.js';
import { badInputTests } from './tests/bad-input.js';
import { countersTests } from './tests/counters.js';
import { enforceTests } from './tests/enforce.js';
import { forwardTests } from './tests/forward.js';
import { interfacesTests } from './tests/interfaces.js';
import { manifestTests } from './tests/manifest.js';
import { portsTests } from './tests/ports.js';
import { selectorsTests } from './tests/selectors.js';
import { spoofTests } from './tests/spoof.js';
import { stateTests } from './tests/state.js';
import { teardownTests } from './tests/teardown.js';
import { updateTests } from './tests/update.js';

export { PolicyFixture, DEFAULT_POLICY_BACKEND, type PolicySuiteOptions, type PolicyNode, type PolicyInputOf } from './fixture.js';
export { MATRIX_RULES, MATRIX_V4, MATRIX_V6, type Flow } from './flows.js';
export { POLICY_CAPABILITY_KEYS } from './tests/manifest.js';

/** Every policy test, in run order. Ids (`policy.<area>.<name>`) are stable API (see docs/conformance.md). */
export const policyTests: readonly KitTest<PolicyFixture>[] = [
  ...manifestTests,
  ...stateTests,
  ...enforceTests,
  ...selectorsTests,
  ...portsTests,
  ...forwardTests,
  ...interfacesTests,
  ...spoofTests,
  ...updateTests,
  ...badInputTests,
  ...countersTests,
  ...teardownTests,
];

/**
 * Registers the policy conformance suite with mocha's BDD globals (`describe`, `it`, `after`):
 * one `describe` holding every test of {@link policyTests}, titled `<id>: <what it asserts>`.
 * The suite shares one test network (hosts a, b, c, d) built on first use and removed in
 * `after` (and on exit or SIGINT). Requires root.
 *
 * @param options the policy plugin (package name or path), the backend underneath, run settings.
 * @returns the fixture.
 */
export function policySuite(options: PolicySuiteOptions): PolicyFixture {
  return describeSuite('policy', policyTests, new PolicyFixture(options));
}
