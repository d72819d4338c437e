#!/usr/bin/env node
// Builds the release artifacts of every public workspace package into one directory:
//   packages/<name>-<version>.tgz   `npm pack` of each public package
//   sbom/<name>-<version>.cdx.json  CycloneDX 1.6 SBOM per package (@cyclonedx/cyclonedx-npm,
//                                   from package-lock.json only, runtime dependencies)
//   provenance.intoto.json          in-toto Statement v1, SLSA provenance v1 predicate
//   SHA256SUMS                      `sha256sum` format over every file above
//   SHA256SUMS.sig                  base64 Ed25519 signature over SHA256SUMS (node:crypto)
// Usage: npm run release:artifacts -- --out release --key /path/to/release-signing.key
//        (or RUSTYNET_RELEASE_KEY_FILE=/path/to/key). The key file is a PKCS#8 PEM Ed25519
//        private key, mode 0600; it is read once and never printed. Verify with
//        `rustynet verify-release <out> --key <public key PEM>`.
import { execFileSync } from 'node:child_process';
import { createHash, createPrivateKey, createPublicKey, sign } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync, existsSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');

function fail(message) {
  process.stderr.write(`release-artifacts: ${message}\n`);
  process.exit(1);
}

const { values } = parseArgs({
  options: {
    out: { type: 'string', default: 'release' },
    key: { type: 'string' },
    'builder-id': { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  },
});
if (values.help) {
  const header = readFileSync(fileURLToPath(import.meta.url), 'utf8')
    .split('\n')
    .slice(1);
  const usage = header
    .slice(
      0,
      header.findIndex((l) => !l.startsWith('//')),
    )
    .map((l) => l.replace(/^\/\/ ?/, ''));
  process.stdout.write(`${usage.join('\n')}\n`);
  process.exit(0);
}
const keyPath = values.key ?? process.env.RUSTYNET_RELEASE_KEY_FILE;
if (!keyPath) fail('no signing key: pass --key <file> or set RUSTYNET_RELEASE_KEY_FILE (a PKCS#8 PEM Ed25519 private key, mode 0600)');
let keyStat;
try {
  keyStat = statSync(keyPath);
} catch {
  fail(`signing key file ${keyPath} does not exist`);
}
if ((keyStat.mode & 0o077) !== 0)
  fail(`signing key file ${keyPath} must be mode 0600 (it is ${(keyStat.mode & 0o777).toString(8)}): chmod 600 it`);
let privateKey;
try {
  privateKey = createPrivateKey({ key: readFileSync(keyPath), format: 'pem' });
} catch {
  fail(`signing key file ${keyPath} is not a PEM private key`);
}
if (privateKey.asymmetricKeyType !== 'ed25519')
  fail(`signing key file ${keyPath} holds a ${privateKey.asymmetricKeyType} key; an Ed25519 key is needed`);

const out = resolve(values.out);
const startedOn = new Date().toISOString();
rmSync(out, { recursive: true, force: true });
mkdirSync(join(out, 'packages'), { recursive: true });
mkdirSync(join(out, 'sbom'), { recursive: true });

/** Public workspace packages, in the root package.json's workspace order. */
function publicPackages() {
  const rootPkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
  const dirs = [];
  for (const w of rootPkg.workspaces) {
    if (w.endsWith('/*')) {
      const base = w.slice(0, -2);
      for (const d of readdirSync(join(root, base)).sort()) if (existsSync(join(root, base, d, 'package.json'))) dirs.push(`${base}/${d}`);
    } else dirs.push(w);
  }
  return dirs
    .map((dir) => ({ dir, pkg: JSON.parse(readFileSync(join(root, dir, 'package.json'), 'utf8')) }))
    .filter(({ pkg }) => pkg.private !== true)
    .map(({ dir, pkg }) => ({ dir, name: pkg.name, version: pkg.version }));
}

const run = (file, args) =>
  execFileSync(file, args, { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 << 20 });
const sha256 = (path) => createHash('sha256').update(readFileSync(path)).digest('hex');
const fileBase = (name, version) => `${name.replace(/^@/, '').replace('/', '-')}-${version}`;

const packages = publicPackages();
if (packages.length === 0) fail('no public workspace package found');
const subjects = [];
for (const p of packages) {
  const packed = JSON.parse(run('npm', ['pack', '--json', '--workspace', p.name, '--pack-destination', join(out, 'packages')]));
  const tgz = join(out, 'packages', packed[0].filename);
  subjects.push({ name: relative(out, tgz), digest: { sha256: sha256(tgz) } });

  const raw = join(out, 'sbom', `${fileBase(p.name, p.version)}.raw.json`);
  run('npx', [
    '--no-install',
    'cyclonedx-npm',
    '--workspace',
    p.name,
    '--package-lock-only',
    '--omit',
    'dev',
    '--mc-type',
    'library',
    '--spec-version',
    '1.6',
    '--output-reproducible',
    '--output-file',
    raw,
  ]);
  // cyclonedx-npm names the workspace root as the main component; the SBOM is about the package.
  const bom = JSON.parse(readFileSync(raw, 'utf8'));
  rmSync(raw);
  const [group, short] = p.name.startsWith('@') ? p.name.slice(1).split('/') : [undefined, p.name];
  const mine = (c) => c.name === short && (group ? c.group === `@${group}` : !c.group) && c.version === p.version;
  const self = bom.components.find(mine);
  if (!self) fail(`the SBOM of ${p.name} does not list the package itself`);
  const oldRoot = bom.metadata.component['bom-ref'];
  bom.metadata.component = self;
  bom.components = bom.components.filter((c) => !mine(c));
  bom.dependencies = (bom.dependencies ?? []).filter((d) => d.ref !== oldRoot);
  writeFileSync(join(out, 'sbom', `${fileBase(p.name, p.version)}.cdx.json`), `${JSON.stringify(bom, null, 2)}\n`);
  process.stderr.write(`packed ${p.name}@${p.version}\n`);
}

const commit = run('git', ['rev-parse', 'HEAD']).trim();
const dirty = run('git', ['status', '--porcelain', '--untracked-files=no']).trim() !== '';
const remote = (() => {
  try {
    return run('git', ['remote', 'get-url', 'origin']).trim();
  } catch {
    return 'local';
  }
})();
const statement = {
  _type: 'https://in-toto.io/Statement/v1',
  subject: subjects,
  predicateType: 'https://slsa.dev/provenance/v1',
  predicate: {
    buildDefinition: {
      buildType: 'https://github.com/rustynet/rustynet/release-artifacts/v1',
      externalParameters: { script: 'scripts/release-artifacts.mjs', packages: packages.map((p) => `${p.name}@${p.version}`) },
      internalParameters: {
        node: process.version,
        npm: run('npm', ['--version']).trim(),
        platform: `${process.platform}-${process.arch}`,
        dirtyWorkTree: dirty,
      },
      resolvedDependencies: [
        { uri: `git+${remote}`, digest: { gitCommit: commit } },
        { uri: 'file:package-lock.json', digest: { sha256: sha256(join(root, 'package-lock.json')) } },
      ],
    },
    runDetails: {
      builder: {
        id:
          values['builder-id'] ??
          process.env.RUSTYNET_BUILDER_ID ??
          (process.env.CI ? 'ci:.ci/run' : 'local:scripts/release-artifacts.mjs'),
      },
      metadata: { invocationId: `${commit}/${startedOn}`, startedOn, finishedOn: new Date().toISOString() },
    },
  },
};
writeFileSync(join(out, 'provenance.intoto.json'), `${JSON.stringify(statement, null, 2)}\n`);

const files = [];
const walk = (d) => {
  for (const e of readdirSync(d, { withFileTypes: true })) {
    const p = join(d, e.name);
    if (e.isDirectory()) walk(p);
    else files.push(relative(out, p));
  }
};
walk(out);
files.sort();
const sums = files.map((f) => `${sha256(join(out, f))}  ${f}\n`).join('');
writeFileSync(join(out, 'SHA256SUMS'), sums);
writeFileSync(join(out, 'SHA256SUMS.sig'), `${sign(null, Buffer.from(sums), privateKey).toString('base64')}\n`);
const pub = createPublicKey(privateKey).export({ type: 'spki', format: 'der' });
process.stdout.write(
  `${JSON.stringify({ out, packages: packages.length, files: files.length + 2, commit, signingKeySha256: createHash('sha256').update(pub).digest('hex') }, null, 2)}\n`,
);
