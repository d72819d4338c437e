/**
 * Plugin API versioning.
 *
 * Versions are `MAJOR.MINOR` strings. A plugin lists every API version it implements in its
 * manifest (`apiVersions`); the host picks the highest version both sides support. A MINOR
 * bump only adds optional members; a MAJOR bump may break. See `docs/compatibility.md`.
 */

/** The API version this package describes. */
export const API_VERSION = '1.0' as const;

/** Every API version this package's contracts can serve, oldest first. */
export const SUPPORTED_API_VERSIONS: readonly string[] = ['1.0'];

/** Matches a `MAJOR.MINOR` API version string. */
export const API_VERSION_PATTERN = /^(0|[1-9]\d*)\.(0|[1-9]\d*)$/;

/**
 * Compares two `MAJOR.MINOR` versions numerically.
 * @returns a negative number if `a < b`, 0 if equal, a positive number if `a > b`.
 * @throws TypeError if either string is not `MAJOR.MINOR`.
 */
export function compareApiVersions(a: string, b: string): number {
  const pa = API_VERSION_PATTERN.exec(a);
  const pb = API_VERSION_PATTERN.exec(b);
  if (!pa || !pb) throw new TypeError(`not a MAJOR.MINOR API version: ${!pa ? a : b}`);
  return Number(pa[1]) - Number(pb[1]) || Number(pa[2]) - Number(pb[2]);
}

/**
 * Picks the highest API version present in both lists.
 * @returns the version, or `undefined` when the lists share none.
 */
export function negotiateApiVersion(hostVersions: readonly string[], pluginVersions: readonly string[]): string | undefined {
  const common = pluginVersions.filter((v) => API_VERSION_PATTERN.test(v) && hostVersions.includes(v));
  return common.sort(compareApiVersions).at(-1);
}
