import { chmod, readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { KitTest } from '../../define.js';
import type { StepContext } from '../../step-context.js';
import { redact } from '../../common/diagnostics.js';
import type { BackendFixture } from '../fixture.js';
import { walk } from '../snapshot.js';
import { containsAny, keyEncodings } from './key-encodings.js';

type T = KitTest<BackendFixture>;

/** Every pid in the system with its cmdline and environ (best effort). */
async function procScan(): Promise<{ pid: string; cmdline: string; environ: string }[]> {
  const out: { pid: string; cmdline: string; environ: string }[] = [];
  for (const pid of await readdir('/proc')) {
    if (!/^\d+$/.test(pid) || Number(pid) === process.pid) continue;
    const [cmdline, environ] = await Promise.all([
      readFile(`/proc/${pid}/cmdline`).then(
        (b) => b.toString().replace(/\0/g, ' '),
        () => '',
      ),
      readFile(`/proc/${pid}/environ`).then(
        (b) => b.toString().replace(/\0/g, ' '),
        () => '',
      ),
    ]);
    out.push({ pid, cmdline, environ });
  }
  return out;
}

export const secretsTests: T[] = [
  {
    id: 'backend.secrets.no-key-in-cmdline',
    title: 'no private key in any command line or child environment (recorded runner calls and /proc/*/cmdline, /proc/*/environ)',
    async run(t, fx) {
      await fx.mesh();
      const nodes = [fx.nodes.a, fx.nodes.b, fx.nodes.c];
      const tokens = (await Promise.all(nodes.map((n) => fx.secretTokens(n)))).flat();
      t.check(
        tokens.length > 0,
        'could not find private key material in the files generateKeyPair listed',
        'private key files',
        nodes.map((n) => n.keyFiles),
      );
      t.begin('commands the plugin ran through the CommandRunner');
      for (const n of nodes) {
        for (const c of await n.plugin.commands()) {
          const hay = [c.file, ...c.args, ...Object.values(c.env)].join('\n');
          const hit = tokens.some((k) => hay.includes(k));
          if (hit) {
            const shown = redact([c.file, ...c.args].join(' '), tokens).slice(0, 200);
            t.fail(
              `private key material on the command line or in the environment of a command the plugin ran on ${n.name}: ${shown}`,
              'keys passed by file path or stdin',
              `${c.via}: ${shown}`,
            );
          }
        }
      }
      t.begin('every process on the system (/proc/*/cmdline and environ)');
      for (const p of await procScan()) {
        const hitC = tokens.some((k) => p.cmdline.includes(k));
        const hitE = tokens.some((k) => p.environ.includes(k));
        t.check(
          !hitC,
          `private key material in /proc/${p.pid}/cmdline`,
          'no key in any command line',
          redact(p.cmdline, tokens).slice(0, 200),
        );
        t.check(
          !hitE,
          `private key material in /proc/${p.pid}/environ (${p.cmdline.split(' ')[0]})`,
          'no key in any environment',
          'found (redacted)',
        );
      }
    },
  },
  {
    id: 'backend.secrets.key-files-private',
    title: 'key directory 0700; every file holding private key material (keys and state dir) is 0600',
    async run(t, fx) {
      await fx.mesh();
      for (const n of [fx.nodes.a, fx.nodes.b]) {
        t.begin(`key directory of ${n.name}`);
        const dm = (await stat(n.keyDir)).mode & 0o777;
        t.check((dm & 0o077) === 0, `key directory ${n.keyDir} is accessible by group or others`, '0700', dm.toString(8));
        const tokens = await fx.secretTokens(n);
        const dirs = [n.keyDir, n.plugin.loaded.pluginStateDir];
        for (const dir of dirs) {
          t.begin(`files under ${dir}`);
          for (const f of await walk(dir)) {
            const m = (await stat(f)).mode & 0o777;
            const text = await readFile(f, 'utf8').catch(() => '');
            if (tokens.some((k) => text.includes(k)) || n.keyFiles.includes(f)) {
              if (text.trim() === n.publicKey.trim()) continue;
              t.check((m & 0o077) === 0, `${f} holds private key material and is readable by group or others`, '0600', m.toString(8));
            }
          }
        }
      }
    },
  },
  {
    id: 'backend.secrets.not-in-logs',
    title: "private keys never appear in the plugin's logs or output",
    async run(t, fx) {
      await fx.mesh();
      for (const n of [fx.nodes.a, fx.nodes.b, fx.nodes.c, fx.nodes.d]) {
        t.begin(`logs of ${n.name}`);
        const tokens = await fx.secretTokens(n);
        const log = (await readFile(n.logFile, 'utf8').catch(() => '')) + n.plugin.outputTail();
        t.check(
          !tokens.some((k) => log.includes(k)),
          `private key of ${n.name} found in the plugin's log`,
          'no key in logs',
          'found (redacted)',
        );
      }
    },
  },
  {
    id: 'backend.secrets.key-encodings',
    title:
      'the private key as base64, base64url, hex (both cases) or raw bytes is in no command, /proc cmdline or environ, log, or readable file',
    async run(t, fx) {
      await fx.mesh();
      const nodes = [fx.nodes.a, fx.nodes.b, fx.nodes.c];
      const texts = (await Promise.all(nodes.map((n) => fx.secretTokens(n)))).flat();
      const needles = keyEncodings(texts);
      t.check(needles.length > texts.length, 'could not decode the private key files', 'base64 or PEM key files', texts.length);
      const hit = (b: Buffer): boolean => containsAny(b, needles);
      t.begin('commands the plugin ran through the CommandRunner');
      for (const n of nodes)
        for (const c of await n.plugin.commands())
          t.check(
            !hit(Buffer.from([c.file, ...c.args, ...Object.values(c.env)].join('\n'))),
            `an encoded private key in a command the plugin ran on ${n.name}`,
            'no key',
            `${c.via} ${c.file}`,
          );
      t.begin('every process on the system (/proc/*/cmdline and environ)');
      for (const pid of await readdir('/proc')) {
        if (!/^\d+$/.test(pid) || Number(pid) === process.pid) continue;
        for (const f of ['cmdline', 'environ']) {
          const b = await readFile(`/proc/${pid}/${f}`).catch(() => Buffer.alloc(0));
          t.check(!hit(b), `an encoded private key in /proc/${pid}/${f}`, 'no key', 'found (redacted)');
        }
      }
      for (const n of [...nodes, fx.nodes.d]) {
        t.begin(`logs and output of ${n.name}`);
        const log = Buffer.concat([await readFile(n.logFile).catch(() => Buffer.alloc(0)), Buffer.from(n.plugin.outputTail())]);
        t.check(!hit(log), `an encoded private key in the log or output of ${n.name}`, 'no key', 'found (redacted)');
      }
      t.begin('files readable by group or others (state directories, /run, /tmp)');
      const runDirs = await readdir('/run').then(
        (e) => e.map((x) => join('/run', x)),
        () => [],
      );
      const files = [
        ...(await Promise.all(nodes.map((n) => walk(n.plugin.loaded.pluginStateDir)))).flat(),
        ...(
          await Promise.all(
            ['/tmp', '/var/tmp', '/run', ...runDirs].map((d) =>
              readdir(d).then(
                (e) => e.map((x) => join(d, x)),
                () => [],
              ),
            ),
          )
        ).flat(),
      ];
      for (const f of new Set(files)) {
        const st = await stat(f).catch(() => null);
        if (!st?.isFile() || (st.mode & 0o044) === 0 || st.size > 1 << 20) continue;
        t.check(
          !hit(await readFile(f).catch(() => Buffer.alloc(0))),
          `an encoded private key in ${f}, readable by group or others`,
          'no key',
          (st.mode & 0o777).toString(8),
        );
      }
    },
  },
  {
    id: 'backend.secrets.key-file-mode',
    title: 'publicKey() and start() refuse a private key file of mode 0640 or 0644 with KEY_INVALID',
    async run(t, fx) {
      const d = fx.nodes.d;
      await fx.stop(d).catch(() => undefined);
      t.begin('generate a key pair on d');
      const dir = join(fx.workDir, 'd', `keys-mode-${Date.now()}`);
      const kp = await t.ok(
        'generateKeyPair',
        d.plugin.call<{ publicKey: string; files: string[] }>('generateKeyPair', [dir], fx.ms(20_000)),
      );
      const privateFiles: string[] = [];
      for (const f of kp.files) if (((await stat(f)).mode & 0o077) === 0) privateFiles.push(f);
      t.check(privateFiles.length > 0, 'generateKeyPair listed no private (0600) file', '>= 1 file of mode 0600', kp.files);
      for (const mode of [0o640, 0o644]) await expectRefused(t, fx, dir, privateFiles, mode);
      t.begin('mode 0600 again: publicKey() works');
      await Promise.all(privateFiles.map((f) => chmod(f, 0o600)));
      t.equal(await t.ok('publicKey', d.plugin.call<string>('publicKey', [dir])), kp.publicKey, 'publicKey() after restoring mode 0600');
    },
  },
];

/** With the private files at `mode`, publicKey() and start() on d fail with KEY_INVALID and d stays stopped. */
async function expectRefused(t: StepContext, fx: BackendFixture, dir: string, files: string[], mode: number): Promise<void> {
  const d = fx.nodes.d;
  const m = mode.toString(8);
  t.begin(`private key files ${m}: publicKey()`);
  await Promise.all(files.map((f) => chmod(f, mode)));
  await t.rejects(`publicKey() with a ${m} key file`, d.plugin.call('publicKey', [dir]), 'KEY_INVALID');
  t.begin(`private key files ${m}: start()`);
  const started = d.plugin.call('start', [fx.startConfig(d, { keyDirectory: dir })], fx.ms(30_000));
  await t.rejects(`start() with a ${m} key file`, started, 'KEY_INVALID').finally(() => fx.stop(d).catch(() => undefined));
}
