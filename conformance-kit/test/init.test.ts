import { expect } from 'chai';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initPlugin } from '../src/init/init-plugin.js';

describe('initPlugin (unit)', () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'rn-init-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('scaffolds a backend from the template with the new name and protocol', async () => {
    const target = join(dir, 'my-backend');
    const r = await initPlugin({ name: 'my-backend', kind: 'backend', dir: target });
    expect(r.protocol).to.equal('my-backend');
    const pkg = JSON.parse(readFileSync(join(target, 'package.json'), 'utf8')) as Record<string, unknown>;
    expect(pkg['name']).to.equal('my-backend');
    expect(pkg).not.to.have.property('private');
    const m = JSON.parse(readFileSync(join(target, 'rustynet-plugin.json'), 'utf8')) as {
      name: string;
      kind: string;
      backend: { protocol: string };
    };
    expect(m.name).to.equal('my-backend');
    expect(m.kind).to.equal('backend');
    expect(m.backend.protocol).to.equal('my-backend');
    expect(readFileSync(join(target, 'src', 'protocol.ts'), 'utf8')).to.include("'my-backend'");
    expect(r.files).to.include('src/data-plane.ts');
    expect(r.files.some((f) => f.startsWith('dist') || f.startsWith('node_modules'))).to.equal(false);
  });

  it('refuses a bad name, a kind without a template and a non-empty directory', async () => {
    await initPlugin({ name: 'Bad Name', kind: 'backend', dir: join(dir, 'x') }).then(
      () => expect.fail('resolved'),
      (e: unknown) => expect(e).to.include({ code: 'INVALID_INPUT', field: 'name' }),
    );
    await initPlugin({ name: 'p', kind: 'dns', dir: join(dir, 'y') }).then(
      () => expect.fail('resolved'),
      (e: unknown) => expect(e).to.have.property('code', 'UNSUPPORTED'),
    );
    writeFileSync(join(dir, 'file'), 'x');
    await initPlugin({ name: 'p', kind: 'backend', dir }).then(
      () => expect.fail('resolved'),
      (e: unknown) => expect(e).to.include({ code: 'INVALID_INPUT', field: 'dir' }),
    );
  });
});
