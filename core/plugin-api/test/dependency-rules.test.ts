/**
 * Architecture boundary checks from the design brief:
 * - dependency rules (dependency-cruiser, `.dependency-cruiser.cjs`) over the compiled packages;
 * - no backend words (`wireguard`, `wg`, `openvpn`, key-format names) in the backend-neutral code.
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

interface Violation { rule: { name: string }; from: string; to: string }

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

function backendWordHits(dirs: string[]): string[] {
  const hits: string[] = [];
  for (const d of dirs) {
    for (const f of filesUnder(d)) {
      readFileSync(f, 'utf8')
        .split('\n')
        .forEach((line, i) => {
          if (BACKEND_WORDS.test(line)) hits.push(`${relative(repo, f)}:${i + 1}: ${line.trim()}`);
        });
    }
  }
  return hits;
}

describe('architecture boundaries', function () {
  this.timeout(120_000);

  it('the compiled packages break no dependency rule', function () {
    const paths = ['core/plugin-api/dist/src', 'core/daemon/dist/src', 'core/cli/dist/src', 'conformance-kit/dist/src'];
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
      writeFileSync(pluginFile, "import '../../../../core/daemon/dist/src/index.js';\nimport '../../../dns-y/dist/src/index.js';\nexport const p = 1;\n");
      writeFileSync(otherPlugin, 'export const y = 1;\n');
      copyFileSync(join(repo, '.dependency-cruiser.cjs'), join(tmp, '.dependency-cruiser.cjs'));
      const names = cruise(tmp, ['core', 'plugins']).map((v) => v.rule.name).sort();
      expect(names).to.deep.equal([
        'daemon-never-imports-a-plugin',
        'plugins-never-import-each-other',
        'plugins-never-import-the-daemon-or-cli',
      ]);
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });

  it('no backend words in plugin-api, daemon, policy or dns code', function () {
    const dirs = ['core/plugin-api/src', 'core/daemon/src', 'plugins/policy-nftables/src', 'plugins/dns-magic/src'].map((d) => join(repo, d));
    expect(backendWordHits(dirs)).to.deep.equal([]);
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
});
