/**
 * Architecture boundary checks from the design brief:
 * - dependency rules (dependency-cruiser, `.dependency-cruiser.cjs`) over the compiled packages;
 * - no backend words (`wireguard`, `wg`, `openvpn`, key-format names) in the backend-neutral code
 *   (plugin-api, daemon, cli, policy and dns plugins, and the testbed's mechanism).
 * Each check is also run against a deliberately broken fixture, so it is known to be able to fail.
 */
import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '../../../..');
const depcruise = join(repo, 'node_modules/.bin/depcruise');

interface Violation {
  rule: { name: string };
  from: string;
  to: string;
}

function cruise(cwd: string, paths: string[]): Violation[] {
  let out: string;
  try {
    out = execFileSync(depcruise, ['--config', join(repo, '.dependency-cruiser.cjs'), '--output-type', 'json', ...paths], {
      cwd,
      encoding: 'utf8',
      maxBuffer: 64 * 1024 * 1024,
    });
  } catch (err) {
    // depcruise exits non-zero when it finds errors; the JSON is still on stdout.
    out = (err as { stdout?: string }).stdout ?? '';
    if (!out) throw err;
  }
  return (JSON.parse(out) as { summary: { violations: Violation[] } }).summary.violations;
}

/** Backend words that must not appear in backend-neutral code. */
export const BACKEND_WORDS = /wireguard|\bwg\b|openvpn|x25519|curve25519|peer-fingerprint/i;

function filesUnder(dir: string): string[] {
  const out: string[] = [];
  let entries: string[];
  try {
    entries = readdirSync(dir);
  } catch {
    return out;
  }
  for (const e of entries) {
    const p = join(dir, e);
    if (statSync(p).isDirectory()) out.push(...filesUnder(p));
    else if (/\.(ts|json)$/.test(e)) out.push(p);
  }
  return out;
}

/** Text that may stay in otherwise backend-neutral code, where, and why. */
interface BackendWordAllowance {
  /** Directory (relative to the repository) the allowance applies to. */
  dir: string;
  /** What is allowed: removed from each line before the check. */
  pattern: RegExp;
  reason: string;
}

/** The only places backend words may appear in the checked directories. */
export const BACKEND_WORD_ALLOWANCES: readonly BackendWordAllowance[] = [
  {
    dir: 'core/cli/src',
    pattern: /@rustynet\/backend-(wireguard|openvpn)(?![\w-])/g,
    reason:
      'the package names of the reference backends, in help examples and in the documented default of ' +
      '`plugin test --backend` (chosen by the kit): what an operator types. The CLI never acts on a backend ' +
      'itself; tool names, key formats and anything else backend-specific stay out.',
  },
];

/**
 * Lines with a backend word under `dirs`, after removing what `allowances` permit there.
 * @param skip files (relative to the repository) left out entirely.
 */
function backendWordHits(dirs: string[], allowances: readonly BackendWordAllowance[] = [], skip: readonly string[] = []): string[] {
  const hits: string[] = [];
  for (const d of dirs) {
    for (const f of filesUnder(d)) {
      const rel = relative(repo, f);
      if (skip.includes(rel)) continue;
      const allowed = allowances.filter((a) => f.startsWith(`${join(repo, a.dir)}/`));
      readFileSync(f, 'utf8')
        .split('\n')
        .forEach((line, i) => {
          const rest = allowed.reduce((l, a) => l.replace(a.pattern, ''), line);
          if (BACKEND_WORDS.test(rest)) hits.push(`${rel}:${i + 1}: ${line.trim()}`);
        });
    }
  }
  return hits;
}

/** The one testbed file that names the reference plugins (the mechanism takes them as parameters). */
const TESTBED_DEFAULTS = 'core/testbed/src/reference-defaults.ts';

/** Writes `files` (path relative to `root` -> text) and the repository's depcruise config under `root`. */
function writeTree(root: string, files: Record<string, string>): void {
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), text);
  }
  copyFileSync(join(repo, '.dependency-cruiser.cjs'), join(root, '.dependency-cruiser.cjs'));
}

/** The violations of a broken tree as `rule: from -> to`, sorted. */
function brokenTreeViolations(files: Record<string, string>, paths: string[]): string[] {
  const tmp = mkdtempSync(join(tmpdir(), 'rn-depcheck-'));
  try {
    writeTree(tmp, files);
    return cruise(
      tmp,
      paths.filter((p) => Object.keys(files).some((f) => f.startsWith(`${p}/`))),
    )
      .map((v) => `${v.rule.name}: ${v.from} -> ${v.to}`)
      .sort();
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

describe('architecture boundaries', function () {
  this.timeout(120_000);

  it('the compiled packages break no dependency rule', function () {
    // Every core package (testbed and plugin-kit included, when present), every plugin, the kit.
    const paths = ['conformance-kit/dist/src'];
    for (const p of readdirSync(join(repo, 'core'))) paths.push(`core/${p}/dist/src`);
    for (const p of readdirSync(join(repo, 'plugins'))) paths.push(`plugins/${p}/dist/src`);
    const existing = paths.filter((p) => {
      try {
        return statSync(join(repo, p)).isDirectory();
      } catch {
        return false;
      }
    });
    const violations = cruise(repo, existing);
    expect(violations.map((v) => `${v.rule.name}: ${v.from} -> ${v.to}`)).to.deep.equal([]);
  });

  it('the dependency rules catch a daemon that imports a plugin, and a plugin that imports the daemon', function () {
    const tmp = mkdtempSync(join(tmpdir(), 'rn-depcheck-'));
    try {
      const daemonFile = join(tmp, 'core/daemon/dist/src/index.js');
      const pluginFile = join(tmp, 'plugins/backend-x/dist/src/index.js');
      const otherPlugin = join(tmp, 'plugins/dns-y/dist/src/index.js');
      for (const f of [daemonFile, pluginFile, otherPlugin]) mkdirSync(dirname(f), { recursive: true });
      writeFileSync(daemonFile, "import '../../../../plugins/backend-x/dist/src/index.js';\nexport const d = 1;\n");
      writeFileSync(
        pluginFile,
        "import '../../../../core/daemon/dist/src/index.js';\nimport '../../../dns-y/dist/src/index.js';\nexport const p = 1;\n",
      );
      writeFileSync(otherPlugin, 'export const y = 1;\n');
      copyFileSync(join(repo, '.dependency-cruiser.cjs'), join(tmp, '.dependency-cruiser.cjs'));
      const names = cruise(tmp, ['core', 'plugins'])
        .map((v) => v.rule.name)
        .sort();
      expect(names).to.deep.equal([
        'daemon-never-imports-a-plugin',
        'plugins-never-import-each-other',
        'plugins-never-import-the-daemon-or-cli',
      ]);
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });

  it('the dependency rules keep the testbed out of shipped code, and let tests, benches and examples use it', function () {
    const testbed = 'export const Mesh = 1;\n';
    const violations = brokenTreeViolations(
      {
        'core/testbed/dist/src/index.js': testbed,
        'core/testbed/dist/src/mesh.js': "import './index.js';\nexport const m = 1;\n",
        'core/cli/dist/src/index.js': "import '../../../testbed/dist/src/index.js';\nexport const c = 1;\n",
        'core/daemon/dist/src/index.js': "import '@rustynet/testbed';\nexport const d = 1;\n",
        'core/cli/dist/test/mesh.int.test.js': "import '../../../testbed/dist/src/index.js';\n",
        'bench/lib/daemon.mjs': "import '../../core/testbed/dist/src/index.js';\n",
        'examples/three-node-mesh/demo.mjs': "await import('../../core/testbed/dist/src/index.js');\n",
      },
      ['core', 'bench', 'examples'],
    );
    expect(violations).to.deep.equal([
      'only-tests-benches-examples-import-the-testbed: core/cli/dist/src/index.js -> core/testbed/dist/src/index.js',
      'only-tests-benches-examples-import-the-testbed: core/daemon/dist/src/index.js -> @rustynet/testbed',
    ]);
  });

  it('the dependency rules let plugins use plugin-kit, and plugin-kit only plugin-api', function () {
    const violations = brokenTreeViolations(
      {
        'core/plugin-api/dist/src/index.js': 'export const api = 1;\n',
        'core/daemon/dist/src/index.js': 'export const d = 1;\n',
        'conformance-kit/dist/src/index.js': 'export const k = 1;\n',
        'core/plugin-kit/dist/src/index.js':
          "import '../../../plugin-api/dist/src/index.js';\nimport '../../../daemon/dist/src/index.js';\nexport const pk = 1;\n",
        'plugins/backend-x/dist/src/index.js':
          "import '../../../../core/plugin-api/dist/src/index.js';\nimport '../../../../core/plugin-kit/dist/src/index.js';\nexport const p = 1;\n",
        'plugins/dns-y/dist/src/index.js': "import '../../../../conformance-kit/dist/src/index.js';\nexport const y = 1;\n",
      },
      ['core', 'plugins', 'conformance-kit'],
    );
    expect(violations).to.deep.equal([
      'plugin-kit-imports-only-plugin-api-of-ours: core/plugin-kit/dist/src/index.js -> core/daemon/dist/src/index.js',
      'plugins-import-only-plugin-api-and-plugin-kit-of-ours: plugins/dns-y/dist/src/index.js -> conformance-kit/dist/src/index.js',
    ]);
  });

  it('the dependency rules catch a static import of the kit in the cli and allow a dynamic one', function () {
    const violations = brokenTreeViolations(
      {
        'conformance-kit/dist/src/index.js': 'export const runPluginTest = 1;\n',
        'core/cli/dist/src/commands/static.js':
          "import { runPluginTest } from '../../../../../conformance-kit/dist/src/index.js';\nexport const s = runPluginTest;\n",
        'core/cli/dist/src/commands/plugin.js':
          "export async function kit() {\n  return import('../../../../../conformance-kit/dist/src/index.js');\n}\n",
      },
      ['core', 'conformance-kit'],
    );
    expect(violations).to.deep.equal([
      'cli-loads-the-kit-on-demand: core/cli/dist/src/commands/static.js -> conformance-kit/dist/src/index.js',
    ]);
  });

  it('no backend words in plugin-api, daemon, cli, policy or dns code (reference backend package names allowed in the cli)', function () {
    const dirs = ['core/plugin-api/src', 'core/daemon/src', 'core/cli/src', 'plugins/policy-nftables/src', 'plugins/dns-magic/src'].map(
      (d) => join(repo, d),
    );
    expect(backendWordHits(dirs, BACKEND_WORD_ALLOWANCES)).to.deep.equal([]);
  });

  it('no backend words in the testbed outside its reference-defaults module', function () {
    expect(backendWordHits([join(repo, 'core/testbed/src')], [], [TESTBED_DEFAULTS])).to.deep.equal([]);
    // The defaults module is where the names are: if it had none, the skip would hide nothing.
    expect(backendWordHits([join(repo, 'core/testbed/src')]).length).to.be.greaterThan(0);
  });

  it('the backend-word check finds a backend word when one is there', function () {
    const tmp = mkdtempSync(join(tmpdir(), 'rn-words-'));
    try {
      writeFileSync(join(tmp, 'leak.ts'), "export const tool = 'wg';\n");
      expect(backendWordHits([tmp])).to.have.length(1);
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });

  it('the cli allowance lets a reference backend package name through, never another backend word', function () {
    const cli = join(repo, 'core/cli/src');
    const tmp = mkdtempSync(join(cli, '.rn-words-'));
    try {
      writeFileSync(join(tmp, 'ok.ts'), "export const example = 'rustynet keygen --backend @rustynet/backend-wireguard';\n");
      writeFileSync(
        join(tmp, 'leak.ts'),
        "export const a = '@rustynet/backend-openvpn --peer-fingerprint';\nexport const b = 'wireguard-go';\nexport const c = '@rustynet/backend-wireguard-ng';\n",
      );
      const hits = backendWordHits([tmp], BACKEND_WORD_ALLOWANCES).map((h) => h.replace(/^.*\/([a-z]+\.ts:\d+):.*$/, '$1'));
      expect(hits).to.deep.equal(['leak.ts:1', 'leak.ts:2', 'leak.ts:3']);
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });
});
