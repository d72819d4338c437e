/**
 * @packageDocumentation
 * `@rustynet/conformance-kit/backend`: the backend conformance suite for mocha.
 *
 * ```ts
 * import { backendSuite } from '@rustynet/conformance-kit/backend';
 * backendSuite({ plugin: '.' }); // in a mocha test file; needs root
 * ```
 */
import type { KitTest } from '../define.js';
import { describeSuite } from '../common/describe-suite.js';
import { BackendFixture, type BackendSuiteOptions } from './fixture.js';
import { badInputTests } from './tests/bad-input.js';
import { batchTrafficTests } from './tests/batch-traffic.js';
import { cipherTests } from './tests/cipher.js';
import { capabilityTests } from './tests/capabilities.js';
import { changeTests } from './tests/changes.js';
import { encryptionTests } from './tests/encryption.js';
import { isolationTests } from './tests/isolation.js';
import { endpointTests } from './tests/endpoints.js';
import { faultTests } from './tests/faults.js';
import { keyTests } from './tests/keys.js';
import { manifestTests } from './tests/manifest.js';
import { peerTests } from './tests/peers.js';
import { repeatTests } from './tests/repeat.js';
import { routeTests } from './tests/routes.js';
import { routeOverlayTests } from './tests/routes-overlay.js';
import { routeCoveringTests } from './tests/routes-covering.js';
import { secretsTests } from './tests/secrets.js';
import { startTests } from './tests/start.js';
import { stateTests } from './tests/state.js';
import { statsTests } from './tests/stats.js';
import { teardownTests } from './tests/teardown.js';

export { BackendFixture, type BackendSuiteOptions, type SuiteNode, type NodeName } from './fixture.js';
export { BACKEND_CAPABILITY_KEYS } from './tests/manifest.js';

/** Every backend test, in run order. Ids are stable API (see docs/conformance.md). */
export const backendTests: readonly KitTest<BackendFixture>[] = [
  ...manifestTests,
  ...keyTests,
  ...stateTests,
  ...startTests,
  ...peerTests,
  ...batchTrafficTests,
  ...statsTests,
  ...encryptionTests,
  ...cipherTests,
  ...endpointTests,
  ...routeTests,
  ...routeOverlayTests,
  ...routeCoveringTests,
  ...badInputTests,
  ...changeTests,
  ...isolationTests,
  ...repeatTests,
  ...capabilityTests,
  ...secretsTests,
  ...teardownTests,
  ...faultTests,
];

/**
 * Registers the backend conformance suite with mocha's BDD globals (`describe`, `it`, `after`):
 * one `describe` holding every test of {@link backendTests}, titled `<id>: <what it asserts>`.
 * The suite shares one test network (hosts a, b, c, d in namespaces) built on first use and
 * removed in `after` (and on exit or SIGINT). Requires root.
 *
 * @param options the plugin (package name or path) and run settings.
 * @returns the fixture (for authors who want to add their own tests on the same network).
 */
export function backendSuite(options: BackendSuiteOptions): BackendFixture {
  return describeSuite('backend', backendTests, new BackendFixture(options));
}
