#!/usr/bin/env node
// Links the @rustynet packages this plugin uses to the Rustynet checkout it sits in (the
// `file:` way), for building and testing it here without a registry:
//   node scripts/link-workspace.mjs && npx tsc -p . && rustynet plugin test .
// Outside the repository, `npm install` takes them from the registry instead (package.json).
import { mkdirSync, rmSync, symlinkSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const repo = resolve(here, '../..');
const packages = {
  'plugin-api': 'core/plugin-api',
  'plugin-kit': 'core/plugin-kit',
  'conformance-kit': 'conformance-kit',
  cli: 'core/cli',
};
const scope = join(here, 'node_modules', '@rustynet');
mkdirSync(scope, { recursive: true });
for (const [name, dir] of Object.entries(packages)) {
  const link = join(scope, name);
  rmSync(link, { recursive: true, force: true });
  symlinkSync(relative(scope, join(repo, dir)), link, 'dir');
  console.log(`node_modules/@rustynet/${name} -> ${dir}`);
}
