/**
 * The value a CommonJS package exports as `exports.default`, or the module itself: under NodeNext
 * a default import of such a package yields the whole `exports` object.
 */
export function interopDefault(mod: unknown): unknown {
  return typeof mod === 'object' && mod !== null && 'default' in mod && mod.default !== undefined ? mod.default : mod;
}
