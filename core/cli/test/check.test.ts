/**
 * `rustynetd --check` and the default config path: every plugin is loaded and its options
 * validated, the key directory and the netmap file are checked, and each failure exits 2 naming
 * the field. Nothing is started (no root needed).
 */
import { expect } from 'chai';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { rn, rnd } from './helpers.js';

interface CheckJson {
  config: string;
  ok: boolean;
  checks: Array<{ field: string; result: 'ok' | 'warn' | 'fail'; message: string; code?: string }>;
  effective: { node: string; stateDir: string; socket: string; backend: { keyDirectory: string } };
}

describe('rustynetd --check', function () {
  this.timeout(60_000);
  let dir: string;
  let cpPub: string;
  let base: Record<string, unknown>;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'rn-check-'));
    const keys = await rn(['keygen', '--out', join(dir, 'keys'), '--backend', '@rustynet/backend-wireguard', '--control-plane', '--json']);
    expect(keys.code, keys.stderr).to.equal(0);
    cpPub = (await readFile(join(dir, 'keys', 'control-plane.pub'), 'utf8')).trim();
    const now = Date.now();
    const node = (i: number): Record<string, unknown> => ({
      id: `n${i}`,
      addresses: [`100.64.0.${i}/32`],
      endpoints: [{ host: `198.18.0.${i}`, port: 51820 }],
      keys: { wireguard: Buffer.alloc(32, i).toString('base64') },
      identityKey: Buffer.alloc(32, i).toString('base64'),
    });
    const doc = {
      version: 1,
      issuedAt: new Date(now - 1000).toISOString(),
      expiresAt: new Date(now + 3_600_000).toISOString(),
      nodes: [node(1), node(2)],
    };
    await writeFile(join(dir, 'netmap.in.json'), JSON.stringify(doc));
    const signed = await rn([
      'netmap',
      'sign',
      '--key',
      join(dir, 'keys', 'control-plane.key'),
      '--in',
      join(dir, 'netmap.in.json'),
      '--out',
      join(dir, 'netmap.json'),
    ]);
    expect(signed.code, signed.stderr).to.equal(0);
    // Relative paths: resolved from the config file's directory.
    base = {
      node: 'n1',
      stateDir: 'state',
      socket: 'n1.sock',
      controlPlaneKey: cpPub,
      identityKeyFile: 'keys/identity.key',
      netmap: { file: 'netmap.json' },
      backend: { plugin: '@rustynet/backend-wireguard', interfaceName: 'rnchk0', keyDirectory: 'keys/wireguard' },
      plugins: [{ plugin: '@rustynet/dns-magic', options: { port: 5353 } }],
    };
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  async function check(
    name: string,
    cfg: Record<string, unknown>,
    json = true,
  ): Promise<{ code: number; out: CheckJson | string; stderr: string }> {
    await writeFile(join(dir, `${name}.json`), JSON.stringify(cfg));
    const r = await rnd(['--config', join(dir, `${name}.json`), '--check', ...(json ? ['--json'] : [])]);
    return { code: r.code, out: json ? (JSON.parse(r.stdout) as CheckJson) : r.stdout, stderr: r.stderr };
  }

  it('passes a complete config and prints every check (plugins, options, keys, netmap)', async () => {
    const r = await check('ok', base);
    expect(r.code, r.stderr).to.equal(0);
    const out = r.out as CheckJson;
    expect(out.ok).to.equal(true);
    const fields = out.checks.map((c) => c.field);
    for (const f of [
      'config',
      'backend.plugin',
      'backend.options',
      'plugins[0].plugin',
      'plugins[0].options',
      'backend.keyDirectory',
      'identityKeyFile',
      'netmap.file',
    ]) {
      expect(fields, f).to.include(f);
    }
    expect(out.checks.filter((c) => c.result === 'fail')).to.deep.equal([]);
    expect(out.effective.stateDir).to.equal(join(dir, 'state'));
    expect(out.effective.backend.keyDirectory).to.equal(join(dir, 'keys', 'wireguard'));
    const human = await check('ok', base, false);
    expect(human.code).to.equal(0);
    expect(human.out).to.match(/OK\s+netmap\.file\s+version 1, signed by the control-plane key/);
    expect(human.out).to.include('is OK');
  });

  it('a missing plugin fails naming plugins[0].plugin (PLUGIN_NOT_FOUND, exit 2)', async () => {
    const r = await check('noplugin', { ...base, plugins: [{ plugin: './no-such-plugin' }] });
    expect(r.code).to.equal(2);
    expect(r.stderr).to.match(/^rustynetd: PLUGIN_NOT_FOUND: plugins\[0\]\.plugin: /);
    expect((r.out as CheckJson).ok).to.equal(false);
  });

  it('a bad plugin option ("port": "x") fails naming plugins[0].options.port (CONFIG_INVALID, exit 2)', async () => {
    const r = await check('badopt', { ...base, plugins: [{ plugin: '@rustynet/dns-magic', options: { port: 'x' } }] });
    expect(r.code).to.equal(2);
    expect(r.stderr).to.match(/^rustynetd: CONFIG_INVALID: plugins\[0\]\.options\.port: /);
    const fail = (r.out as CheckJson).checks.find((c) => c.result === 'fail');
    expect(fail?.field).to.equal('plugins[0].options.port');
  });

  it('a missing key directory fails naming backend.keyDirectory (KEY_INVALID, exit 2)', async () => {
    const r = await check('nokeys', { ...base, backend: { ...(base['backend'] as object), keyDirectory: 'no-keys-here' } });
    expect(r.code).to.equal(2);
    expect(r.stderr).to.match(/^rustynetd: KEY_INVALID: backend\.keyDirectory: .*ENOENT; create the keys with: rustynet keygen/);
  });

  it('a netmap signed by another key, a node missing from it, and a loose identity key each fail by field', async () => {
    const other = await check('otherkey', { ...base, controlPlaneKey: Buffer.alloc(32, 9).toString('base64') });
    expect(other.code).to.equal(2);
    expect(other.stderr).to.match(/^rustynetd: NETMAP_SIGNATURE_INVALID: netmap\.file: /);
    const stranger = await check('stranger', { ...base, node: 'n9' });
    expect(stranger.stderr).to.match(/^rustynetd: CONFIG_INVALID: node: node n9 is not in the netmap/);
    await mkdir(join(dir, 'loose'), { recursive: true });
    await writeFile(join(dir, 'loose', 'id.key'), await readFile(join(dir, 'keys', 'identity.key')));
    await chmod(join(dir, 'loose', 'id.key'), 0o644);
    const loose = await check('loose', { ...base, identityKeyFile: 'loose/id.key' });
    expect(loose.stderr).to.match(/^rustynetd: KEY_INVALID: identityKeyFile: .*0644/);
  });

  it('an expired netmap is a warning (exit 0): the daemon starts failed closed', async () => {
    const later = Date.now();
    const node1 = {
      id: 'n1',
      addresses: ['100.64.0.1/32'],
      endpoints: [],
      keys: { wireguard: Buffer.alloc(32, 1).toString('base64') },
      identityKey: Buffer.alloc(32, 1).toString('base64'),
    };
    const doc = {
      version: 2,
      issuedAt: new Date(later - 7_200_000).toISOString(),
      expiresAt: new Date(later - 3_600_000).toISOString(),
      nodes: [node1],
    };
    await writeFile(join(dir, 'old.in.json'), JSON.stringify(doc));
    const signed = await rn([
      'netmap',
      'sign',
      '--key',
      join(dir, 'keys', 'control-plane.key'),
      '--in',
      join(dir, 'old.in.json'),
      '--out',
      join(dir, 'old.json'),
    ]);
    expect(signed.code, signed.stderr).to.equal(0);
    const r = await check('expired', { ...base, netmap: { file: 'old.json' } });
    expect(r.code, r.stderr).to.equal(0);
    const c = (r.out as CheckJson).checks.find((x) => x.field === 'netmap.file');
    expect(c).to.include({ result: 'warn', code: 'NETMAP_EXPIRED' });
  });

  it('without --config the default $RUSTYNET_CONFIG_DIR/rustynetd.json is used', async () => {
    const etc = join(dir, 'etc');
    await mkdir(etc, { recursive: true });
    const missing = await rnd(['--check'], { RUSTYNET_CONFIG_DIR: etc });
    expect(missing.code).to.equal(2);
    expect(missing.stderr).to.include(`rustynetd: CONFIG_INVALID: ${join(etc, 'rustynetd.json')}: cannot be read`);
    await writeFile(
      join(etc, 'rustynetd.json'),
      JSON.stringify({
        ...base,
        netmap: { file: '../netmap.json' },
        identityKeyFile: '../keys/identity.key',
        backend: { ...(base['backend'] as object), keyDirectory: '../keys/wireguard' },
      }),
    );
    const ok = await rnd(['--check'], { RUSTYNET_CONFIG_DIR: etc });
    expect(ok.code, ok.stderr).to.equal(0);
    expect(ok.stdout).to.include(`checking ${join(etc, 'rustynetd.json')}`);
  });
});
