import { expect } from 'chai';
import { mkdtemp, readFile, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeFileAtomic } from '../src/index.js';

describe('plugin-kit: writeFileAtomic', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'plugin-kit-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('writes a new file with mode 0600 by default', async () => {
    const f = join(dir, 'secret');
    await writeFileAtomic(f, 'hello\n');
    expect(await readFile(f, 'utf8')).to.equal('hello\n');
    expect((await stat(f)).mode & 0o777).to.equal(0o600);
  });

  it('replaces a file whole, with the given mode, leaving no temporary file', async () => {
    const f = join(dir, 'conf');
    await writeFileAtomic(f, 'old', { mode: 0o600 });
    await writeFileAtomic(f, new TextEncoder().encode('new content'), { mode: 0o644 });
    expect(await readFile(f, 'utf8')).to.equal('new content');
    expect((await stat(f)).mode & 0o777).to.equal(0o644);
    expect(await readdir(dir)).to.deep.equal(['conf']);
  });

  it('fails on a missing directory and leaves nothing', async () => {
    const err = await writeFileAtomic(join(dir, 'no', 'file'), 'x').catch((e: unknown) => e);
    expect((err as NodeJS.ErrnoException).code).to.equal('ENOENT');
    expect(await readdir(dir)).to.deep.equal([]);
  });
});
