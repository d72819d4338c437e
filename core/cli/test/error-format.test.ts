/**
 * One error format everywhere (issue #13): `rustynet: CODE: message` on stderr, or one JSON
 * error object under `--json` / `--reporter json`; bad flags exit 2 before anything runs; a bad
 * manifest lists every schema error in words. Real plugins and manifests, no root needed.
 */
import { expect } from 'chai';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { rn } from './helpers.js';

const BACKEND = fileURLToPath(new URL('../../../../plugins/backend-wireguard', import.meta.url));

describe('rustynet error format (unit)', () => {
  let dir = '';
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'rn-errfmt-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('plugin test --profile other than full/quick: exit 2, INVALID_INPUT naming the choices, nothing run', async () => {
    const r = await rn(['plugin', 'test', BACKEND, '--profile', 'fast']);
    expect(r.code, r.stderr).to.equal(2);
    expect(r.stderr).to.match(/^rustynet: INVALID_INPUT: .*'--profile <name>'.*'fast'.*full, quick/m);
    expect(r.stdout).to.equal('');
  });

  it('--reporter json turns the same error into one JSON object on stderr', async () => {
    const r = await rn(['plugin', 'test', BACKEND, '--profile', 'fast', '--reporter', 'json']);
    expect(r.code).to.equal(2);
    const err = JSON.parse(r.stderr.trim()) as { error: { code: string; errno: number; message: string } };
    expect(err.error.code).to.equal('INVALID_INPUT');
    expect(err.error.errno).to.equal(20);
    expect(err.error.message).to.contain('fast');
  });

  it('a load error of plugin test uses "rustynet: CODE:" (not "error CODE:"), and JSON with --reporter json', async () => {
    const missing = join(dir, 'nope');
    const r = await rn(['plugin', 'test', missing]);
    expect(r.code).to.equal(2);
    expect(r.stderr).to.match(/^rustynet: PLUGIN_NOT_FOUND: /m);
    expect(r.stderr).to.not.match(/^error /m);
    const j = await rn(['plugin', 'test', missing, '--reporter', 'json']);
    expect(j.code).to.equal(2);
    expect((JSON.parse(j.stderr.trim()) as { error: { code: string } }).error.code).to.equal('PLUGIN_NOT_FOUND');
  });

  it('MANIFEST_INVALID lists every schema error of the manifest, in words', async () => {
    const p = join(dir, 'bad-manifest');
    rmSync(p, { recursive: true, force: true });
    mkdirSync(p);
    writeFileSync(join(p, 'package.json'), JSON.stringify({ name: 'bad', version: '1.0.0', type: 'module' }));
    writeFileSync(
      join(p, 'rustynet-plugin.json'),
      JSON.stringify({
        name: 'bad',
        version: 1,
        kind: 'tunnel',
        apiVersions: ['one'],
        entry: './index.js',
        capabilities: {},
        colour: 'red',
      }),
    );
    const r = await rn(['plugin', 'test', p]);
    expect(r.code, r.stderr).to.equal(2);
    const line = r.stderr.split('\n').find((l) => l.startsWith('rustynet: MANIFEST_INVALID: ')) ?? '';
    expect(line, r.stderr).to.contain('problems: ');
    for (const want of [
      'version: must be a string',
      'kind: must be one of "backend", "policy", "dns", "relay"',
      'apiVersions[0]: does not have the required form',
      'colour: is not a known field',
    ]) {
      expect(line).to.contain(want);
    }
    const j = await rn(['plugin', 'test', p, '--reporter', 'json']);
    const err = JSON.parse(j.stderr.trim()) as { error: { code: string; details: { errors: { field: string }[] } } };
    expect(err.error.code).to.equal('MANIFEST_INVALID');
    expect(err.error.details.errors.map((e) => e.field)).to.include.members(['version', 'kind', 'apiVersions[0]', 'colour']);
  });

  it('--json on a data command prints the failure as a JSON error object', async () => {
    const r = await rn(['status', '--json', '--socket', join(dir, 'none.sock')]);
    expect(r.code).to.equal(1);
    const err = JSON.parse(r.stderr.trim()) as { error: { code: string; errno: number } };
    expect(err.error).to.include({ code: 'NOT_RUNNING', errno: 10 });
  });
});
