import { readFile } from 'node:fs/promises';
import { join, relative, resolve, isAbsolute } from 'node:path';
import { MANIFEST_FILE, RustynetError, manifestSchema, type PluginManifest } from '@rustynet/plugin-api';
import { errorField, sharedValidator } from '../util/ajv.js';
import { ajvErrorInWords, ajvErrorsInWords } from '../util/ajv-words.js';
import { resolvePluginDir } from './resolve.js';

/**
 * Validates a parsed manifest against `manifestSchema` (and that `entry` stays inside the
 * plugin directory).
 * @param where the manifest's path, used in messages.
 * @throws RustynetError `MANIFEST_INVALID`: `<where>: N problems: <field>: <problem in words>; ...`
 *   naming every schema error, with `field` set to the first and `details.errors` listing all.
 */
export function validateManifestObject(value: unknown, where: string): PluginManifest {
  const validateManifest = sharedValidator<PluginManifest>(manifestSchema);
  if (!validateManifest(value)) {
    const first = validateManifest.errors?.[0];
    const name = typeof (value as { name?: unknown } | null)?.name === 'string' ? (value as { name: string }).name : undefined;
    throw new RustynetError('MANIFEST_INVALID', `${where}: ${ajvErrorsInWords(validateManifest.errors)}`, {
      ...(first && { field: errorField(first) }),
      ...(name !== undefined && { plugin: name }),
      details: {
        path: where,
        errors: validateManifest.errors?.map((e) => ({ path: e.instancePath, field: errorField(e), message: ajvErrorInWords(e) })) ?? [],
      },
    });
  }
  const entryRel = relative('/p', resolve('/p', value.entry));
  if (entryRel.startsWith('..') || isAbsolute(entryRel)) {
    throw new RustynetError('MANIFEST_INVALID', `${where}: /entry must stay inside the plugin directory`, {
      field: 'entry',
      plugin: value.name,
    });
  }
  return value;
}

/**
 * Finds a plugin by package name or path and reads its validated `rustynet-plugin.json`.
 * @throws RustynetError `PLUGIN_NOT_FOUND`, `MANIFEST_INVALID` (unreadable, not JSON, or not
 *   matching the schema; the message names the manifest path and the field).
 */
export async function readManifest(spec: string, cwd?: string): Promise<{ manifest: PluginManifest; dir: string }> {
  const dir = resolvePluginDir(spec, cwd);
  const path = join(dir, MANIFEST_FILE);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new RustynetError('MANIFEST_INVALID', `${path}: cannot be read (${String(err)})`, { plugin: spec, cause: err });
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new RustynetError('MANIFEST_INVALID', `${path}: not valid JSON (${(err as Error).message})`, { plugin: spec, cause: err });
  }
  return { manifest: validateManifestObject(parsed, path), dir };
}
