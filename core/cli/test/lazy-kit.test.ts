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

  /**
   * Runs `rustynet args` in `cwd` with the kit hidden from the CLI's own resolution, as when
   * `@rustynet/cli` is installed without its optional peer: a resolve hook answers the bare
   * specifier with Node's own ERR_MODULE_NOT_FOUND.
   */
  async function withoutKit(cwd: string, args: string[]): Promise<{ code: number; stderr: string }> {
    const hooks = join(dir, 'no-kit-hooks.mjs');
    const register = join(dir, 'no-kit.mjs');
    await writeFile(
      hooks,
      `export async function resolve(specifier, context, next) {\n` +
        `  if (specifier === '@rustynet/conformance-kit') {\n` +
        `    const e = new Error("Cannot find package '@rustynet/conformance-kit' imported from " + context.parentURL);\n` +
        `    e.code = 'ERR_MODULE_NOT_FOUND';\n    throw e;\n  }\n` +
        `  return next(specifier, context);\n}\n`,
    );
    await writeFile(register, `import { register } from 'node:module';\nregister(${JSON.stringify(pathToFileURL(hooks).href)});\n`);
    return new Promise((resolve) => {
      execFile(
        process.execPath,
        ['--import', pathToFileURL(register).href, RUSTYNET, ...args],
        { cwd, timeout: 60_000 },
        (err, _out, stderr) => resolve({ code: typeof err?.code === 'number' ? err.code : 0, stderr }),
      );
    });
  }

  it('without the kit, plugin test and plugin init exit 2 with DEPENDENCY_MISSING and the npm command', async function () {
    for (const args of [
      ['plugin', 'test', './x'],
      ['plugin', 'init', 'backend-x', '--kind', 'backend'],
    ]) {
      const r = await withoutKit(dir, args);
      expect(r.code, r.stderr).to.equal(2);
      expect(r.stderr).to.match(/^rustynet: DEPENDENCY_MISSING: .*@rustynet\/conformance-kit/m);
      expect(r.stderr).to.contain('npm install -g @rustynet/conformance-kit@^1');
      expect(r.stderr).to.contain('npm install --save-dev @rustynet/conformance-kit@^1');
    }
  });

  it('without the kit next to the CLI, it is loaded from the current directory (a plugin project)', async function () {
    // The repository root has the kit in node_modules, as a plugin project with it as a devDependency.
    const project = fileURLToPath(new URL('../../../../', import.meta.url));
    const r = await withoutKit(project, ['plugin', 'test', join(dir, 'no-such-plugin')]);
    expect(r.code, r.stderr).to.equal(2);
    expect(r.stderr).to.match(/^rustynet: PLUGIN_NOT_FOUND: /m);
  });
});
