/**
 * The published packages (issue #13): every public workspace package is installable from a
 * registry on its own. Checks the package.json contract over the real files; the end-to-end proof
 * (publish to verdaccio, scaffold, build, plugin test) is scripts/test-registry.sh.
 */
import { expect } from 'chai';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { API_VERSION } from '../src/index.js';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '../../../..');

interface Pkg {
  name: string;
  version: string;
  private?: boolean;
  license?: string;
  homepage?: string;
  repository?: { type: string; url: string; directory: string };
  engines?: { node?: string };
  files?: string[];
  exports?: Record<string, unknown>;
  types?: string;
  bin?: Record<string, string>;
  keywords?: string[];
  dependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  peerDependenciesMeta?: Record<string, { optional?: boolean }>;
}

const read = (p: string): Pkg & { workspaces: string[] } => JSON.parse(readFileSync(p, 'utf8')) as Pkg & { workspaces: string[] };

/** Every workspace directory with its package.json. */
function workspaces(): { dir: string; pkg: Pkg }[] {
  const root = read(join(repo, 'package.json'));
  const dirs = root.workspaces.flatMap((w) =>
    w.endsWith('/*')
      ? readdirSync(join(repo, w.slice(0, -2)))
          .map((d) => `${w.slice(0, -1)}${d}`)
          .filter((d) => existsSync(join(repo, d, 'package.json')))
      : [w],
  );
  return dirs.map((dir) => ({ dir, pkg: read(join(repo, dir, 'package.json')) }));
}

const all = workspaces();
const published = all.filter((w) => w.pkg.private !== true);
const major = API_VERSION.split('.')[0] ?? '';

describe('published packages (unit)', () => {
  it('lists the public packages the design names', () => {
    expect(published.map((w) => w.pkg.name)).to.include.members([
      '@rustynet/plugin-api',
      '@rustynet/plugin-kit',
      '@rustynet/daemon',
      '@rustynet/control',
      '@rustynet/cli',
      '@rustynet/conformance-kit',
      '@rustynet/backend-wireguard',
      '@rustynet/backend-openvpn',
    ]);
  });

  it('versions follow the plugin API (major = API major), lerna.json agrees, internal ranges are carets', () => {
    const lerna = read(join(repo, 'lerna.json'));
    expect(lerna.version.split('.')[0], 'lerna.json').to.equal(major);
    for (const { dir, pkg } of all) {
      expect(pkg.version, dir).to.equal(lerna.version);
      for (const deps of [pkg.dependencies, pkg.devDependencies, pkg.peerDependencies]) {
        for (const [n, range] of Object.entries(deps ?? {})) {
          if (n.startsWith('@rustynet/')) expect(range, `${dir}: ${n}`).to.equal(`^${major}.0.0`);
        }
      }
    }
  });

  it('each public package has files, exports, types, engines, repository, homepage, LICENSE and README', () => {
    const license = readFileSync(join(repo, 'LICENSE'), 'utf8');
    expect(license).to.contain('Apache License').and.contain('Version 2.0, January 2004');
    for (const { dir, pkg } of published) {
      expect(pkg.license, dir).to.equal('Apache-2.0');
      expect(pkg.engines?.node, dir).to.match(/^>=20/);
      expect(pkg.types, dir).to.be.a('string');
      expect(pkg.exports?.['.'], dir).to.be.an('object');
      expect(pkg.repository, dir).to.deep.equal({ type: 'git', url: 'git+https://github.com/rustynet/rustynet.git', directory: dir });
      expect(pkg.homepage, dir).to.be.a('string');
      expect(pkg.files, dir).to.include.members(['dist/src', 'src', 'LICENSE', 'README.md']);
      expect(readFileSync(join(repo, dir, 'LICENSE'), 'utf8'), `${dir}/LICENSE`).to.equal(license);
      expect(existsSync(join(repo, dir, 'README.md')), `${dir}/README.md`).to.equal(true);
    }
  });

  it('plugins, plugin-kit and the conformance kit take plugin-api (and plugin-kit) as caret peers, never as dependencies', () => {
    for (const { dir, pkg } of all.filter(
      (w) => w.pkg.keywords?.includes('rustynet-plugin') || w.dir === 'conformance-kit' || w.dir === 'core/plugin-kit',
    )) {
      for (const n of ['@rustynet/plugin-api', '@rustynet/plugin-kit']) {
        expect(pkg.dependencies?.[n], `${dir}: ${n} in dependencies`).to.equal(undefined);
      }
      expect(pkg.peerDependencies?.['@rustynet/plugin-api'], dir).to.equal(`^${major}.0.0`);
    }
  });

  it('the CLI installs without mocha or chai: the kit is an optional peer; the kit has a bin', () => {
    const cli = read(join(repo, 'core/cli/package.json'));
    const deps = Object.keys(cli.dependencies ?? {});
    expect(deps).to.not.include.members(['@rustynet/conformance-kit']);
    expect(deps.some((d) => d === 'mocha' || d === 'chai')).to.equal(false);
    expect(cli.peerDependenciesMeta?.['@rustynet/conformance-kit']?.optional).to.equal(true);
    const kit = read(join(repo, 'conformance-kit/package.json'));
    expect(kit.bin?.['rustynet-conformance']).to.equal('./dist/src/bin/rustynet-conformance.js');
    expect(kit.files).to.include('template');
  });

  it('the backend template has every devDependency a scaffold needs to build, test and run the kit', () => {
    const t = read(join(repo, 'examples/backend-template/package.json'));
    expect(Object.keys(t.devDependencies ?? {})).to.include.members([
      'typescript',
      '@types/node',
      '@types/mocha',
      'mocha',
      '@rustynet/cli',
      '@rustynet/conformance-kit',
    ]);
  });
});
