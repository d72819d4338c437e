/**
 * The shipped systemd units and `rustynet service install`: the units pass `systemd-analyze
 * verify` as installed (real node and script paths), carry the hardening the docs promise, and
 * install writes units and a default config under `--root` (never over an existing config),
 * with `--dry-run` writing nothing. No root needed; nothing is written outside a temp dir.
 */
import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { validateDaemonConfig } from '@rustynet/daemon';
import { RELAY_IDENTITY_KEY, UNIT_DIR } from '../src/commands/service.js';
import { rn } from './helpers.js';

const run = promisify(execFile);

async function systemdAnalyze(): Promise<string | undefined> {
  for (const p of ['/usr/bin/systemd-analyze', '/bin/systemd-analyze']) {
    if (
      await stat(p).then(
        () => true,
        () => false,
      )
    )
      return p;
  }
  return undefined;
}

describe('systemd units and rustynet service install', function () {
  this.timeout(60_000);
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'rn-svc-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('the units are hardened as docs/operations/production.md says', async () => {
    const d = await readFile(join(UNIT_DIR, 'rustynetd.service'), 'utf8');
    for (const line of [
      'ProtectSystem=strict',
      'ProtectHome=yes',
      'PrivateTmp=yes',
      'NoNewPrivileges=yes',
      'CapabilityBoundingSet=CAP_NET_ADMIN CAP_NET_RAW CAP_NET_BIND_SERVICE',
      'StateDirectory=rustynet',
      'RuntimeDirectory=rustynet',
      'KillMode=mixed',
      'RestartPreventExitStatus=2',
    ]) {
      expect(d, line).to.include(`\n${line}\n`);
    }
    const r = await readFile(join(UNIT_DIR, 'rustynet-relay.service'), 'utf8');
    for (const line of [
      'DynamicUser=yes',
      'CapabilityBoundingSet=CAP_NET_BIND_SERVICE',
      'ProtectSystem=strict',
      'PrivateDevices=yes',
      `LoadCredential=identity.key:${RELAY_IDENTITY_KEY}`,
    ]) {
      expect(r, line).to.include(`\n${line}\n`);
    }
    // Nodes refuse a relay that cannot sign their challenge when the netmap lists its key.
    expect(r).to.match(/^ExecStart=.* relay serve .*--identity-key %d\/identity\.key /m);
  });

  it('install --root writes both units and a default config; systemd-analyze verify passes on them', async () => {
    const root = join(dir, 'root');
    const r = await rn([
      'service',
      'install',
      '--root',
      root,
      '--relay',
      '--node',
      'web-1',
      '--control-plane-key',
      Buffer.alloc(32, 3).toString('base64'),
      '--json',
    ]);
    expect(r.code, r.stderr).to.equal(0);
    const out = JSON.parse(r.stdout) as { files: Array<{ path: string; action: string; mode: string }>; next: string[] };
    expect(out.next.some((n) => n.startsWith('rustynet keygen --out /etc/rustynet/relay '))).to.equal(true);
    expect(out.files.map((f) => [f.path.slice(root.length), f.action, f.mode])).to.deep.equal([
      ['/etc/systemd/system/rustynetd.service', 'create', '0644'],
      ['/etc/systemd/system/rustynet-relay.service', 'create', '0644'],
      ['/etc/rustynet/rustynetd.json', 'create', '0600'],
      ['/etc/rustynet/relay.env', 'create', '0644'],
    ]);
    const unit = await readFile(join(root, 'etc/systemd/system/rustynetd.service'), 'utf8');
    expect(unit).to.include(`ExecStart=${process.execPath} `);
    expect(unit).to.match(/dist\/src\/bin\/rustynetd\.js --config \/etc\/rustynet\/rustynetd\.json\n/);
    const cfg = JSON.parse(await readFile(join(root, 'etc/rustynet/rustynetd.json'), 'utf8')) as Record<string, unknown>;
    expect(cfg).to.deep.include({ node: 'web-1', stateDir: '/var/lib/rustynet', socket: '/run/rustynet/rustynetd.sock' });
    expect((await stat(join(root, 'etc/rustynet/rustynetd.json'))).mode & 0o777).to.equal(0o600);
    expect(() => validateDaemonConfig(cfg), 'the default config matches the daemon config schema').not.to.throw();

    const analyze = await systemdAnalyze();
    if (!analyze) {
      // bootstrap.sh installs the systemd package when systemd-analyze is missing.
      throw new Error('systemd-analyze not found: run scripts/bootstrap.sh (it installs the systemd package)');
    }
    for (const u of ['rustynetd.service', 'rustynet-relay.service']) {
      const file = join(root, 'etc/systemd/system', u);
      const res = await run(analyze, ['verify', '--man=no', file]).then(
        (x) => ({ code: 0, stderr: x.stderr }),
        (e: unknown) => ({ code: (e as { code?: number }).code ?? 1, stderr: (e as { stderr?: string }).stderr ?? '' }),
      );
      console.log(`      systemd-analyze verify ${u}: exit ${res.code}${res.stderr.trim() ? `: ${res.stderr.trim()}` : ''}`);
      expect(res.code, res.stderr).to.equal(0);
      expect(res.stderr.trim(), 'verify warnings').to.equal('');
    }
  });

  it('systemd-analyze verify fails on a broken unit (the check can fail)', async () => {
    const analyze = await systemdAnalyze();
    if (!analyze) throw new Error('systemd-analyze not found: run scripts/bootstrap.sh');
    const text = (await readFile(join(UNIT_DIR, 'rustynetd.service'), 'utf8')).replace(
      /\/usr\/local\/bin\/rustynetd/g,
      join(dir, 'missing-rustynetd'),
    );
    const file = join(dir, 'broken.service');
    await writeFile(file, text);
    const res = await run(analyze, ['verify', '--man=no', file]).then(
      () => 0,
      (e: unknown) => (e as { code?: number }).code ?? 1,
    );
    expect(res).to.not.equal(0);
  });

  it('install keeps an existing config, and --dry-run writes nothing', async () => {
    const root = join(dir, 'root2');
    const first = await rn(['service', 'install', '--root', root, '--node', 'n1']);
    expect(first.code, first.stderr).to.equal(0);
    const cfgFile = join(root, 'etc/rustynet/rustynetd.json');
    await writeFile(cfgFile, '{"edited":true}\n');
    const again = await rn(['service', 'install', '--root', root, '--node', 'n1']);
    expect(again.code).to.equal(0);
    expect(again.stdout).to.include(`keep (exists) ${cfgFile}`);
    expect(await readFile(cfgFile, 'utf8')).to.equal('{"edited":true}\n');

    const dry = join(dir, 'dry');
    const d = await rn(['service', 'install', '--root', dry, '--dry-run', '--node', 'n1']);
    expect(d.code, d.stderr).to.equal(0);
    expect(d.stdout).to.include('would create');
    expect(d.stdout).to.include('ProtectSystem=strict');
    expect(await readdir(dry).catch(() => 'absent')).to.equal('absent');
  });

  it('bad input is refused naming the option, and nothing is written', async () => {
    const root = join(dir, 'bad');
    const r = await rn(['service', 'install', '--root', root, '--node', 'Bad Name!']);
    expect(r.code).to.equal(2);
    expect(r.stderr).to.match(/^rustynet: INVALID_INPUT: .*--node/);
    const k = await rn(['service', 'install', '--root', root, '--node', 'n1', '--control-plane-key', join(dir, 'nope.pub')]);
    expect(k.code).to.equal(2);
    expect(k.stderr).to.match(/--control-plane-key/);
    expect(await readdir(root).catch(() => 'absent')).to.equal('absent');
  });
});
