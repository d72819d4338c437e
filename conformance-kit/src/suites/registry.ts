import type { PluginKind } from '@rustynet/plugin-api';
import { backendSuite } from './backend/index.js';
import { policySuite } from './policy/index.js';
import { dnsSuite } from './dns/index.js';
import { relaySuite } from './relay/index.js';
import type { SuiteOptions } from './common/options.js';

/**
 * Settings every suite factory receives from the runner: the shared {@link SuiteOptions}, with
 * everything the runner always decides (cwd, profile, seed, multiplier) filled in.
 */
export interface SuiteRunSettings
  extends
    Required<Pick<SuiteOptions, 'plugin' | 'cwd' | 'profile' | 'seed' | 'timeoutMultiplier'>>,
    Pick<SuiteOptions, 'options' | 'keepLogs'> {
  /** Backend plugin carrying traffic under a policy suite (`rustynet plugin test --backend`); other kinds ignore it. */
  backend?: string;
}

/** Registers one kind's suite with mocha's BDD globals. */
export type SuiteFactory = (settings: SuiteRunSettings) => void;

/**
 * Suites by plugin kind. Add a kind by creating `suites/<kind>/index.ts` with a factory and
 * registering it here (or at run time with {@link registerSuite}).
 */
const suites = new Map<PluginKind, SuiteFactory>([
  [
    'backend',
    (s) => {
      backendSuite({
        plugin: s.plugin,
        cwd: s.cwd,
        profile: s.profile,
        seed: s.seed,
        timeoutMultiplier: s.timeoutMultiplier,
        ...(s.options && { options: s.options }),
        ...(s.keepLogs !== undefined && { keepLogs: s.keepLogs }),
      });
    },
  ],
  ['policy', (s) => void policySuite({ ...s })],
  ['dns', (s) => void dnsSuite({ ...s })],
  ['relay', (s) => void relaySuite({ ...s })],
]);

/** The suite for `kind`, or undefined when the kit has none yet. */
export function suiteFor(kind: PluginKind): SuiteFactory | undefined {
  return suites.get(kind);
}

/** Adds or replaces the suite of a kind. */
export function registerSuite(kind: PluginKind, factory: SuiteFactory): void {
  suites.set(kind, factory);
}

/** Kinds that have a suite. */
export function suiteKinds(): PluginKind[] {
  return [...suites.keys()];
}
