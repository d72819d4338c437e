import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { KitTest } from '../../define.js';
import type { BackendFixture } from '../fixture.js';

type T = KitTest<BackendFixture>;

async function mode(path: string): Promise<number> {
  return (await stat(path)).mode & 0o777;
}

export const keyTests: T[] = [
  {
    id: 'backend.keys.generate',
    title: 'generateKeyPair writes 0600 private files in a 0700 directory; publicKey(dir) returns the same key',
    async run(t, fx) {
      const d = fx.nodes.d;
      const dir = join(fx.workDir, 'd', 'keys-gen');
      t.begin('generateKeyPair without start');
      const kp = await t.ok('generateKeyPair', d.plugin.call<{ publicKey: string; files: string[] }>('generateKeyPair', [dir]));
      t.check(typeof kp.publicKey === 'string' && kp.publicKey.length > 0, 'publicKey missing', 'non-empty string', kp.publicKey);
      t.check(Array.isArray(kp.files) && kp.files.length > 0, 'files missing', 'absolute paths', kp.files);
      t.begin('directory mode');
      const dm = await mode(dir);
      t.check(dm === 0o700, 'key directory mode is not 0700', '0700', dm.toString(8));
      t.begin('file modes');
      for (const f of kp.files) {
        t.check(f.startsWith('/'), 'file path is not absolute', 'absolute path', f);
        const content = (await readFile(f, 'utf8')).trim();
        const m = await mode(f);
        if (content !== kp.publicKey.trim())
          t.check((m & 0o077) === 0, `private key file ${f} is readable by group or others`, '0600', m.toString(8));
      }
      t.begin('publicKey(dir)');
      const pub = await t.ok('publicKey', d.plugin.call<string>('publicKey', [dir]));
      t.equal(pub, kp.publicKey, 'publicKey(dir) differs from generateKeyPair().publicKey');
      t.begin('second generateKeyPair into the same directory');
      await t.rejects('generateKeyPair into a directory with keys', d.plugin.call('generateKeyPair', [dir]), 'KEY_INVALID');
    },
  },
];
