/**
 * The options every suite is created with (the flags of `rustynet plugin test` that reach a
 * suite). A suite's own options extend this type with what only that suite needs.
 */
export interface SuiteOptions {
  /** The plugin under test: a package name (resolved from `cwd`) or a path to its directory. */
  plugin: string;
  /** Where a package name resolves from and relative paths start; default `process.cwd()`. */
  cwd?: string;
  /** The plugin's options (validated against its configSchema by the loader). */
  options?: Record<string, unknown>;
  /** Multiplies every test deadline (slow machines); default 1. */
  timeoutMultiplier?: number;
  /** Seed for generated names, payloads and junk packets (recorded in reports); default random. */
  seed?: number;
  /** Profile name (recorded in reports; `quick` skips the slowest tests). */
  profile?: string;
  /**
   * Directory for per-test logs (`rustynet plugin test --keep-logs`): `<dir>/<test id>/` gets, per
   * plugin host, the commands with the full output of every process the plugin ran or spawned,
   * and the hook timeline.
   */
  keepLogs?: string;
  /** Title of the mocha `describe` block; default `<kind> conformance: <plugin>`. */
  title?: string;
}
