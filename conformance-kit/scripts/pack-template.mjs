// prepack of @rustynet/conformance-kit: copies examples/<kind>-template into template/<kind>, so
// the published package carries what `rustynet plugin init` and `rustynet-conformance init`
// scaffold from. Build output, installed modules and local state are left out.
import { cpSync, existsSync, rmSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const kit = dirname(dirname(fileURLToPath(import.meta.url)));
const SKIP = new Set(['node_modules', 'dist', '.tsbuildinfo']);
for (const kind of ['backend']) {
  const src = join(kit, '..', 'examples', `${kind}-template`);
  const dst = join(kit, 'template', kind);
  if (!existsSync(join(src, 'rustynet-plugin.json'))) {
    process.stderr.write(`rustynet: PACKAGE_INCOMPLETE: ${src} has no rustynet-plugin.json: run npm pack from a repository checkout\n`);
    process.exit(1);
  }
  rmSync(dst, { recursive: true, force: true });
  cpSync(src, dst, { recursive: true, filter: (p) => !SKIP.has(basename(p)) });
}
