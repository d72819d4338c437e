/**
 * The CLI loads the conformance kit on demand only: `rustynet status` (and `--help`) start
 * without it; `plugin test` loads it. Module loads are traced with a resolve hook
 * (`module.register`) in a child node process, so the check sees what really gets loaded.
 */
import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const RUSTYNET = fileURLToPath(new URL('../src/bin/rustynet.js', import.meta.url));

/** Runs `rustynet args` with a loader hook; @returns every module URL it resolved. */
async function loadedModules(dir: string, args: string[]): Promise<string[]> {
  const log = join(dir, `loads-${args[0]}.txt`);
  const hooks = join(dir, 'hooks.mjs');
  const register = join(dir, 'register.mjs');
  await writeFile(
    hooks,
    `import { appendFileSync } from 'node:fs';\n` +
      `export async function resolve(specifier, context, next) {\n` +
      `  const r = await next(specifier, context);\n` +
      `  appendFileSync(${JSON.stringify(log)}, r.url + '\\n');\n` +
      `  return r;\n}\n`,
  );
  await writeFile(register, `import { register } from 'node:module';\nregister(${JSON.stringify(pathToFileURL(hooks).href)});\n`);
  await new Promise<void>((resolve) => {
    execFile(process.execPath, ['--import', pathToFileURL(register).href, RUSTYNET, ...args], { cwd: dir, timeout: 60_000 }, () =>
      resolve(),
    );
  });
  return (await readFile(log, 'utf8').catch(() => '')).split('\n').filter((l) => l !== '');
}

describe('rustynet loads the conformance kit on demand (unit)', function () {
  this.timeout(60_000);
  let dir = '';
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'rn-lazy-kit-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('rustynet status does not load @rustynet/conformance-kit', async function () {
    const loads = await loadedModules(dir, ['status', '--socket', join(dir, 'none.sock')]);
    expect(
      loads.some((u) => u.endsWith('/commands/status.js')),
      'the trace sees the CLI modules',
    ).to.equal(true);
    expect(loads.filter((u) => u.includes('conformance-kit'))).to.deep.equal([]);
  });

  it('rustynet plugin test loads it (the trace can see the kit)', async function () {
    const loads = await loadedModules(dir, ['plugin', 'test', join(dir, 'no-such-plugin')]);
    expect(loads.some((u) => u.includes('/conformance-kit/'))).to.equal(true);
  });
});
