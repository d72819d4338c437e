import type { PluginKind } from '@rustynet/plugin-api';
import { registerTests, type KitTest } from '../define.js';
import type { SuiteFixture } from './fixture.js';

/**
 * Registers a suite with mocha's BDD globals (`describe`, `it`, `after`): one `describe` titled
 * `options.title` (default `<kind> conformance: <plugin>`) holding every test of `tests` in
 * order, sharing `fixture`, which is disposed in `after` (and its network on exit or SIGINT).
 * @returns the fixture.
 */
export function describeSuite<F extends SuiteFixture>(kind: PluginKind, tests: readonly KitTest<F>[], fixture: F): F {
  describe(fixture.opts.title ?? `${kind} conformance: ${fixture.opts.plugin}`, function () {
    registerTests([...tests], fixture);
    after(async function () {
      this.timeout(60_000);
      await fixture.dispose();
    });
  });
  return fixture;
}
