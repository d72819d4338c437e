import { expect } from 'chai';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { rn } from './helpers.js';

describe('rustynet plugin init / test (through the conformance kit)', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'rn-kit-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('plugin init scaffolds a backend package with the given name', async () => {
    const target = join(dir, 'foo');
    const r = await rn(['plugin', 'init', '@acme/backend-foo', '--kind', 'backend', '--dir', target]);
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stdout).to.contain(`created @acme/backend-foo (backend, protocol "foo") in ${target}`);
    const manifest = JSON.parse(await readFile(join(target, 'rustynet-plugin.json'), 'utf8')) as { name: string; kind: string };
    expect(manifest).to.deep.include({ name: '@acme/backend-foo', kind: 'backend' });
  });

  it('plugin init refuses a bad package name with INVALID_INPUT (exit 2) and creates nothing', async () => {
    const r = await rn(['plugin', 'init', 'Not A Name', '--kind', 'backend', '--dir', join(dir, 'bad')]);
    expect(r.code).to.equal(2);
    expect(r.stderr).to.match(/^rustynet: INVALID_INPUT: name: not an npm package name/);
    const exists = await readFile(join(dir, 'bad', 'package.json')).then(
      () => true,
      () => false,
    );
    expect(exists).to.equal(false);
  });

  it('plugin test of a missing plugin exits 2 with the loader error', async () => {
    const r = await rn(['plugin', 'test', join(dir, 'no-such-plugin'), '--reporter', 'json']);
    expect(r.code).to.equal(2);
    expect(r.stderr + r.stdout).to.contain('PLUGIN_NOT_FOUND');
  });
});
