/**
 * The kit's own executable, `rustynet-conformance` (what `npx @rustynet/conformance-kit` runs):
 * `init` scaffolds a complete package; bad usage exits 2 in the one error format. The packaged
 * path (template inside the published tarball) is proven by scripts/test-registry.sh.
 */
import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const BIN = fileURLToPath(new URL('../src/bin/rustynet-conformance.js', import.meta.url));

function run(args: string[], cwd: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { cwd, timeout: 60_000 }, (err, stdout, stderr) =>
      resolve({ code: typeof err?.code === 'number' ? err.code : 0, stdout, stderr }),
    );
  });
}

describe('rustynet-conformance (unit)', function () {
  this.timeout(60_000);
  let dir = '';
  before(() => (dir = mkdtempSync(join(tmpdir(), 'rn-kit-bin-'))));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('init scaffolds a package whose devDependencies build, test and run the kit', async () => {
    const r = await run(['init', '@acme/backend-bin', '--json'], dir);
    expect(r.code, r.stderr).to.equal(0);
    const res = JSON.parse(r.stdout) as { dir: string; protocol: string };
    expect(res.dir).to.equal(join(dir, 'backend-bin'));
    expect(res.protocol).to.equal('bin');
    const pkg = JSON.parse(readFileSync(join(res.dir, 'package.json'), 'utf8')) as {
      name: string;
      private?: boolean;
      scripts: Record<string, string>;
      peerDependencies: Record<string, string>;
      devDependencies: Record<string, string>;
    };
    expect(pkg.name).to.equal('@acme/backend-bin');
    expect(pkg.private).to.equal(undefined);
    expect(pkg.scripts).to.include.keys('build', 'test', 'conformance');
    expect(pkg.peerDependencies).to.include.keys('@rustynet/plugin-api', '@rustynet/plugin-kit');
    expect(pkg.devDependencies).to.include.keys(
      'typescript',
      '@types/node',
      '@types/mocha',
      'mocha',
      '@rustynet/cli',
      '@rustynet/conformance-kit',
    );
  });

  it('a second init into the same directory exits 2 (INVALID_INPUT, field dir), changing nothing', async () => {
    const before = readFileSync(join(dir, 'backend-bin', 'package.json'), 'utf8');
    const r = await run(['init', '@acme/backend-bin'], dir);
    expect(r.code).to.equal(2);
    expect(r.stderr).to.match(/^rustynet: INVALID_INPUT: dir: .* exists and is not empty/m);
    expect(readFileSync(join(dir, 'backend-bin', 'package.json'), 'utf8')).to.equal(before);
  });

  it('unknown commands and options exit 2 in the one error format; --help exits 0', async () => {
    const bad = await run(['deploy'], dir);
    expect(bad.code).to.equal(2);
    expect(bad.stderr).to.match(/^rustynet: INVALID_INPUT: unknown command "deploy"/m);
    const opt = await run(['test', '.', '--colour'], dir);
    expect(opt.code).to.equal(2);
    expect(opt.stderr).to.match(/^rustynet: INVALID_INPUT: .*--colour/m);
    const profile = await run(['test', '.', '--profile', 'fast', '--reporter', 'json'], dir);
    expect(profile.code).to.equal(2);
    expect((JSON.parse(profile.stderr.trim()) as { error: { code: string; field: string } }).error).to.include({
      code: 'INVALID_INPUT',
      field: 'profile',
    });
    const help = await run(['--help'], dir);
    expect(help.code).to.equal(0);
    expect(help.stdout).to.contain('npx @rustynet/conformance-kit init');
  });
});
