/**
 * The `create-plugin` bin (what `npm create @rustynet/plugin` runs), as a child process on real
 * folders: help, a scaffold that names the package after the folder or --name, and the errors a
 * user meets (a non-empty folder, a bad name, an unknown option) with nothing written.
 */
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const BIN = join(dirname(fileURLToPath(import.meta.url)), '..', 'src', 'bin', 'create-plugin.js');

function run(args: string[], cwd: string): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd, encoding: 'utf8' });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('create-plugin (npm create @rustynet/plugin)', () => {
  let tmp = '';
  beforeEach(() => {
    tmp = mkdtempSync(join(tmpdir(), 'rn-create-'));
  });
  afterEach(() => rmSync(tmp, { recursive: true, force: true }));

  it('--help prints usage and exits 0', () => {
    const r = run(['--help'], tmp);
    expect(r.status).to.equal(0);
    expect(r.stdout).to.match(/^usage: npm create @rustynet\/plugin@latest <dir>/);
  });

  it('scaffolds the kit template, named after the folder, with a manifest and devDependencies', () => {
    const r = run(['backend-foo'], tmp);
    expect(r.status, r.stderr).to.equal(0);
    expect(r.stdout).to.match(/created backend-foo \(backend, protocol "foo"\)/);
    const pkg = JSON.parse(readFileSync(join(tmp, 'backend-foo', 'package.json'), 'utf8')) as Record<string, unknown>;
    expect(pkg['name']).to.equal('backend-foo');
    expect(pkg['private']).to.equal(undefined);
    expect(Object.keys(pkg['devDependencies'] as object)).to.include.members(['typescript', '@rustynet/conformance-kit']);
    const manifest = JSON.parse(readFileSync(join(tmp, 'backend-foo', 'rustynet-plugin.json'), 'utf8')) as {
      name: string;
      kind: string;
      backend: { protocol: string };
    };
    expect(manifest).to.include({ name: 'backend-foo', kind: 'backend' });
    expect(manifest.backend.protocol).to.equal('foo');
  });

  it('--name sets a scoped package name', () => {
    const r = run(['x', '--name', '@acme/backend-bar', '--json'], tmp);
    expect(r.status, r.stderr).to.equal(0);
    expect((JSON.parse(r.stdout) as { protocol: string }).protocol).to.equal('bar');
    expect((JSON.parse(readFileSync(join(tmp, 'x', 'package.json'), 'utf8')) as { name: string }).name).to.equal('@acme/backend-bar');
  });

  it('refuses a non-empty folder with INVALID_INPUT naming dir, and leaves it as it was', () => {
    mkdirSync(join(tmp, 'taken'));
    writeFileSync(join(tmp, 'taken', 'notes.txt'), 'mine');
    const r = run(['taken'], tmp);
    expect(r.status).to.equal(2);
    expect(r.stderr).to.match(/^rustynet: INVALID_INPUT: dir: .*taken exists and is not empty\n$/);
    expect(readdirSync(join(tmp, 'taken'))).to.deep.equal(['notes.txt']);
  });

  it('refuses a bad package name, a missing folder and an unknown option (exit 2, nothing written)', () => {
    const bad = run(['Bad Name'], tmp);
    expect(bad.status).to.equal(2);
    expect(bad.stderr).to.match(/^rustynet: INVALID_INPUT: name: not an npm package name/);
    const none = run([], tmp);
    expect(none.status).to.equal(2);
    expect(none.stderr).to.match(/rustynet: INVALID_INPUT: dir:/);
    const opt = run(['y', '--colour'], tmp);
    expect(opt.status).to.equal(2);
    expect(opt.stderr).to.match(/^rustynet: INVALID_INPUT: .*--colour/);
    const json = run(['z', '--kind', 'dns', '--json'], tmp);
    expect(json.status).to.equal(2);
    expect(JSON.parse(json.stderr)).to.deep.include({
      error: { code: 'UNSUPPORTED', message: 'kind: only "backend" has a template so far (got dns)', field: 'kind' },
    });
    expect(readdirSync(tmp)).to.deep.equal([]);
  });
});
