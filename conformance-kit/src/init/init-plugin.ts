import { existsSync } from 'node:fs';
import { cp, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { RustynetError, type PluginKind } from '@rustynet/plugin-api';

/** Options of {@link initPlugin} (`rustynet plugin init <name> --kind <kind> [--dir <dir>]`). */
export interface InitPluginOptions {
  /** npm package name of the new plugin, e.g. `my-backend` or `@acme/backend-foo`. */
  name: string;
  /** Plugin kind; only `backend` has a template today. */
  kind: PluginKind;
  /** Target directory (created; must be empty or absent). Default `./<last part of name>`. */
  dir?: string;
  /** Template directory; default the template shipped in this package (`template/<kind>`). */
  templateDir?: string;
}

/** What {@link initPlugin} created. */
export interface InitPluginResult {
  /** Absolute path of the created plugin directory. */
  dir: string;
  /** The files written, relative to {@link InitPluginResult.dir}. */
  files: string[];
  /** Protocol id written to the manifest's `backend.protocol`. */
  protocol: string;
}

const NAME_RE = /^(@[a-z0-9][a-z0-9._-]*\/)?[a-z0-9][a-z0-9._-]*$/;
const TEMPLATE_NAME = '@rustynet/backend-template';
const TEMPLATE_PROTOCOL = 'template';
const SKIP = new Set(['node_modules', 'dist', '.tsbuildinfo']);

/**
 * The template of `kind`: `examples/<kind>-template` in a repository checkout, else the copy this
 * package ships in `template/<kind>` (made by `npm pack` / `npm publish`, see `scripts/pack-template.mjs`).
 * @throws RustynetError `PACKAGE_INCOMPLETE` when neither exists (an installation without its template).
 */
function findTemplate(kind: PluginKind): string {
  const here = dirname(fileURLToPath(import.meta.url));
  const candidates = [resolve(here, '../../../../examples', `${kind}-template`), resolve(here, '../../../template', kind)];
  const found = candidates.find((c) => existsSync(join(c, 'rustynet-plugin.json')));
  if (!found) {
    throw new RustynetError(
      'PACKAGE_INCOMPLETE',
      `@rustynet/conformance-kit has no ${kind} template (looked in ${candidates.join(', ')}): reinstall the package (npm install @rustynet/conformance-kit@^1)`,
      { details: { path: candidates[candidates.length - 1] } },
    );
  }
  return found;
}

async function listFiles(dir: string, base = dir): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    if (SKIP.has(e.name)) continue;
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await listFiles(p, base)));
    else out.push(p.slice(base.length + 1));
  }
  return out;
}

/**
 * Scaffolds a new plugin from the template: copies it, renames the package and manifest to
 * `name`, sets `backend.protocol` from the name, marks the package public (not private).
 *
 * @throws RustynetError `INVALID_INPUT` (field `name` or `dir`) for a bad name or a non-empty
 *   target directory; `UNSUPPORTED` (field `kind`) for a kind without a template;
 *   `PACKAGE_INCOMPLETE` when this installation lacks its template.
 */
export async function initPlugin(opts: InitPluginOptions): Promise<InitPluginResult> {
  if (typeof opts.name !== 'string' || !NAME_RE.test(opts.name) || opts.name.length > 214) {
    throw new RustynetError('INVALID_INPUT', `name: not an npm package name: ${opts.name}`, { field: 'name' });
  }
  if (opts.kind !== 'backend') {
    throw new RustynetError('UNSUPPORTED', `kind: only "backend" has a template so far (got ${opts.kind})`, { field: 'kind' });
  }
  const template = opts.templateDir ? resolve(opts.templateDir) : findTemplate(opts.kind);
  const short = basename(opts.name);
  const dir = resolve(opts.dir ?? short);
  if (existsSync(dir) && (await readdir(dir)).length > 0) {
    throw new RustynetError('INVALID_INPUT', `dir: ${dir} exists and is not empty`, { field: 'dir' });
  }
  const protocol = (
    short
      .replace(/^backend-/, '')
      .replace(/[^a-z0-9-]/g, '-')
      .replace(/^[^a-z]+/, '') || 'custom'
  ).slice(0, 32);
  const files = await listFiles(template);
  await mkdir(dir, { recursive: true });
  for (const f of files) {
    const src = join(template, f);
    const dst = join(dir, f);
    await mkdir(dirname(dst), { recursive: true });
    if (/\.(json|ts|md)$/.test(f)) {
      let text = await readFile(src, 'utf8');
      text = text.split(TEMPLATE_NAME).join(opts.name);
      if (f === 'rustynet-plugin.json') {
        const m = JSON.parse(text) as { backend?: { protocol?: string } };
        if (m.backend) m.backend.protocol = protocol;
        text = JSON.stringify(m, null, 2) + '\n';
      }
      if (f === 'src/protocol.ts') text = text.replace(`'${TEMPLATE_PROTOCOL}'`, `'${protocol}'`);
      if (f === 'package.json') {
        const p = JSON.parse(text) as Record<string, unknown>;
        delete p['private'];
        p['version'] = '0.1.0';
        text = JSON.stringify(p, null, 2) + '\n';
      }
      if (f === 'rustynet-plugin.json') {
        const m = JSON.parse(text) as Record<string, unknown>;
        m['version'] = '0.1.0';
        text = JSON.stringify(m, null, 2) + '\n';
      }
      await writeFile(dst, text);
    } else {
      await cp(src, dst);
    }
  }
  return { dir, files, protocol };
}
