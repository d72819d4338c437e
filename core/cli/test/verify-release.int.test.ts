/**
 * Release integrity end to end: `scripts/release-artifacts.mjs` packs every public package,
 * writes SBOMs, provenance, SHA256SUMS and an Ed25519 signature with a key this test makes;
 * `rustynet verify-release` accepts the fresh directory and refuses one flipped byte in a
 * tarball, an SBOM, or the signature, naming what failed. Not network-bound (no lock needed),
 * but slow: npm pack and cyclonedx-npm run once per package.
 */
import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { chmodSync, cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { rn } from './helpers.js';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '../../../..');
const script = join(repo, 'scripts/release-artifacts.mjs');

function runScript(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((res) => {
    execFile(process.execPath, [script, ...args], { cwd: repo, maxBuffer: 32 << 20, timeout: 600_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
      res({ code, stdout, stderr });
    });
  });
}

function flipByte(file: string, at: (len: number) => number): void {
  const b = readFileSync(file);
  const i = at(b.length);
  b[i] = (b[i] ?? 0) ^ 0x01;
  writeFileSync(file, b);
}

interface Report {
  ok: boolean;
  packages: string[];
  checks: { check: string; file: string; ok: boolean; problem?: string }[];
}

describe('release artifacts and rustynet verify-release (integration)', function () {
  this.timeout(900_000);
  let tmp: string;
  let release: string;
  let privPath: string;
  let privPem: string;
  let pubPath: string;

  before(async function () {
    tmp = mkdtempSync(join(tmpdir(), 'rn-release-'));
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    privPem = privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
    privPath = join(tmp, 'signing.key');
    writeFileSync(privPath, privPem, { mode: 0o600 });
    pubPath = join(tmp, 'signing.pub');
    writeFileSync(pubPath, publicKey.export({ type: 'spki', format: 'pem' }));
    release = join(tmp, 'release');
    const t0 = Date.now();
    const r = await runScript(['--out', release, '--key', privPath]);
    console.log(`      release-artifacts: ${Date.now() - t0} ms`);
    expect(r.code, r.stderr).to.equal(0);
    const keyBody = privPem.split('\n').slice(1, -2).join('');
    expect(r.stdout + r.stderr).not.to.include(keyBody.slice(0, 40));
  });

  after(() => rmSync(tmp, { recursive: true, force: true }));

  /** A fresh copy of the release to damage. */
  function copy(name: string): string {
    const d = join(tmp, name);
    cpSync(release, d, { recursive: true });
    return d;
  }

  async function verify(dir: string, key = pubPath): Promise<{ code: number; report: Report; stderr: string }> {
    const r = await rn(['verify-release', dir, '--key', key, '--json']);
    return { code: r.code, report: JSON.parse(r.stdout) as Report, stderr: r.stderr };
  }

  it('writes one tarball and one SBOM per public package, provenance, sums and a signature', () => {
    const tgz = readdirSync(join(release, 'packages'));
    const sboms = readdirSync(join(release, 'sbom'));
    expect(tgz.length).to.be.greaterThan(5);
    expect(sboms.length).to.equal(tgz.length);
    expect(tgz.some((t) => t.startsWith('rustynet-plugin-api-'))).to.equal(true);
    const st = JSON.parse(readFileSync(join(release, 'provenance.intoto.json'), 'utf8')) as {
      _type: string;
      predicateType: string;
      subject: unknown[];
      predicate: { buildDefinition: { resolvedDependencies: { digest: Record<string, string> }[] } };
    };
    expect(st._type).to.equal('https://in-toto.io/Statement/v1');
    expect(st.predicateType).to.equal('https://slsa.dev/provenance/v1');
    expect(st.subject).to.have.length(tgz.length);
    expect(st.predicate.buildDefinition.resolvedDependencies[0]?.digest.gitCommit).to.match(/^[0-9a-f]{40}$/);
  });

  it('verify-release passes on fresh artifacts (exit 0, every check ok)', async () => {
    const { code, report } = await verify(release);
    expect(code).to.equal(0);
    expect(report.ok).to.equal(true);
    expect(report.checks.filter((c) => !c.ok)).to.deep.equal([]);
    expect(report.checks.map((c) => c.check)).to.include.members(['signature', 'checksum', 'sbom', 'provenance']);
  });

  it('fails on a flipped byte in a tarball, naming the file', async () => {
    const d = copy('bad-tarball');
    const tgz = `packages/${readdirSync(join(d, 'packages'))[0] ?? ''}`;
    flipByte(join(d, tgz), (n) => Math.floor(n / 2));
    const { code, report, stderr } = await verify(d);
    expect(code).to.not.equal(0);
    expect(report.ok).to.equal(false);
    expect(stderr).to.include('RELEASE_INVALID');
    expect(report.checks).to.deep.include({ check: 'checksum', file: tgz, ok: false, problem: 'SHA-256 differs from SHA256SUMS' });
    expect(report.checks.find((c) => c.check === 'signature')?.ok).to.equal(true);
  });

  it('fails on a flipped byte in an SBOM, naming the file', async () => {
    const d = copy('bad-sbom');
    const sbom = `sbom/${readdirSync(join(d, 'sbom'))[0] ?? ''}`;
    flipByte(join(d, sbom), (n) => Math.floor(n / 3));
    const { code, report } = await verify(d);
    expect(code).to.not.equal(0);
    const failed = report.checks.filter((c) => !c.ok);
    expect(failed.map((c) => `${c.check} ${c.file}`)).to.include(`checksum ${sbom}`);
  });

  it('fails on a flipped byte in the signature', async () => {
    const d = copy('bad-sig');
    flipByte(join(d, 'SHA256SUMS.sig'), () => 10);
    const { code, report } = await verify(d);
    expect(code).to.not.equal(0);
    expect(report.checks.find((c) => c.check === 'signature')).to.include({ ok: false, file: 'SHA256SUMS.sig' });
  });

  it('fails with another public key, and on a SHA256SUMS rewritten to match a changed tarball', async () => {
    const other = join(tmp, 'other.pub');
    writeFileSync(other, generateKeyPairSync('ed25519').publicKey.export({ type: 'spki', format: 'pem' }));
    expect((await verify(release, other)).report.checks.find((c) => c.check === 'signature')?.ok).to.equal(false);

    const d = copy('resummed');
    const sums = readFileSync(join(d, 'SHA256SUMS'), 'utf8').replace(/^[0-9a-f]{64}/, '0'.repeat(64));
    writeFileSync(join(d, 'SHA256SUMS'), sums);
    const { code, report } = await verify(d);
    expect(code).to.not.equal(0);
    expect(report.checks.find((c) => c.check === 'signature')?.ok).to.equal(false);
  });

  it('refuses a key file that is not an Ed25519 public key, naming --key', async () => {
    const r = await rn(['verify-release', release, '--key', privPath.replace('signing.key', 'nope.pub'), '--json']);
    expect(r.code).to.not.equal(0);
    expect(r.stderr).to.include('KEY_INVALID');
    expect(r.stderr).to.include('release public key');
  });

  it('the script refuses a signing key readable by others and prints no key material', async () => {
    const loose = join(tmp, 'loose.key');
    writeFileSync(loose, privPem, { mode: 0o600 });
    chmodSync(loose, 0o644);
    const out = join(tmp, 'never');
    const r = await runScript(['--out', out, '--key', loose]);
    expect(r.code).to.equal(1);
    expect(r.stderr).to.include('must be mode 0600');
    expect(r.stdout + r.stderr).not.to.include('PRIVATE KEY');
    expect(() => readdirSync(out)).to.throw();
  });
});
