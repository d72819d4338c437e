import { readdir, readFile, stat } from 'node:fs/promises';
import type { KitTest } from '../../define.js';
import { redact } from '../../common/diagnostics.js';
import type { BackendFixture } from '../fixture.js';
import { walk } from '../snapshot.js';

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
];
