import { expect } from 'chai';
import { chmod, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { rn, rnd } from './helpers.js';

function netmapDoc(version: number, opts: { issuedAt?: Date; expiresAt?: Date } = {}): Record<string, unknown> {
  const issued = opts.issuedAt ?? new Date(Date.now() - 1000);
  const expires = opts.expiresAt ?? new Date(issued.getTime() + 3_600_000);
  const node = (i: number): Record<string, unknown> => ({
    id: `n${i}`,
    addresses: [`100.64.0.${i}/32`, `fd7a:115c:a1e0::${i}/128`],
    endpoints: [{ host: `198.18.0.${i}`, port: 51820 }],
    keys: { example: `key-${i}` },
    identityKey: Buffer.alloc(32, i).toString('base64'),
  });
  return { version, issuedAt: issued.toISOString(), expiresAt: expires.toISOString(), network: 'unit', nodes: [node(1), node(2)] };
}

describe('rustynet keygen', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'rn-keygen-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('writes the identity key 0600 in a 0700 directory and prints only the public key', async () => {
    const out = join(dir, 'keys');
    const r = await rn(['keygen', '--out', out, '--json']);
    expect(r.code, r.stderr).to.equal(0);
    const res = JSON.parse(r.stdout) as { identity: { publicKey: string; privateKeyFile: string; publicKeyFile: string } };
    expect(res.identity.publicKey).to.match(/^[A-Za-z0-9+/]{43}=$/);
    expect((await stat(out)).mode & 0o777).to.equal(0o700);
    expect((await stat(res.identity.privateKeyFile)).mode & 0o777).to.equal(0o600);
    expect((await readFile(res.identity.publicKeyFile, 'utf8')).trim()).to.equal(res.identity.publicKey);
    const pem = await readFile(res.identity.privateKeyFile, 'utf8');
    expect(pem).to.contain('PRIVATE KEY');
    const body = pem.split('\n').filter((l) => l && !l.startsWith('-----'));
    for (const line of body) expect(r.stdout + r.stderr).to.not.contain(line);
  });

  it('human output is a table of public keys', async () => {
    const r = await rn(['keygen', '--out', dir, '--control-plane']);
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stdout).to.match(/^KEY\s+PUBLIC KEY\s+FILE\n/);
    expect(r.stdout).to.match(/\nidentity\s+[A-Za-z0-9+/]{43}=\s+.*identity\.pub\n/);
    expect(r.stdout).to.match(/\ncontrol-plane\s+[A-Za-z0-9+/]{43}=\s+.*control-plane\.pub\n/);
    expect(r.stdout).to.not.contain('PRIVATE');
  });

  it('--control-plane --no-identity writes only the control-plane key', async () => {
    const r = await rn(['keygen', '--out', dir, '--control-plane', '--no-identity', '--json']);
    expect(r.code, r.stderr).to.equal(0);
    expect((await readdir(dir)).sort()).to.deep.equal(['control-plane.key', 'control-plane.pub']);
    expect((await stat(join(dir, 'control-plane.key'))).mode & 0o777).to.equal(0o600);
  });

  it('refuses to overwrite existing keys (KEY_INVALID, exit 1) and changes nothing', async () => {
    expect((await rn(['keygen', '--out', dir])).code).to.equal(0);
    const before = await readFile(join(dir, 'identity.key'), 'utf8');
    const r = await rn(['keygen', '--out', dir, '--control-plane']);
    expect(r.code).to.equal(1);
    expect(r.stderr).to.match(/^rustynet: KEY_INVALID: .*identity\.key exists/);
    expect(await readFile(join(dir, 'identity.key'), 'utf8')).to.equal(before);
    expect(await readdir(dir)).to.not.include('control-plane.key');
  });

  it('an unknown backend plugin fails with PLUGIN_NOT_FOUND (exit 2) before writing anything', async () => {
    const out = join(dir, 'never');
    const r = await rn(['keygen', '--out', out, '--backend', './no-such-plugin-dir']);
    expect(r.code).to.equal(2);
    expect(r.stderr).to.match(/^rustynet: PLUGIN_NOT_FOUND: /);
    const exists = await stat(out).then(
      () => true,
      () => false,
    );
    expect(exists, `${out} must not exist`).to.equal(false);
  });

  it('--no-identity alone is a usage error', async () => {
    const r = await rn(['keygen', '--out', dir, '--no-identity']);
    expect(r.code).to.equal(2);
    expect(r.stderr).to.match(/^rustynet: INVALID_INPUT: nothing to generate/);
  });

  it("--backend writes the backend's key pair under <dir>/<protocol>/ through the plugin", async function () {
    const r = await rn(['keygen', '--out', dir, '--backend', '@rustynet/backend-wireguard', '--json'], {});
    expect(r.code, r.stderr).to.equal(0);
    const res = JSON.parse(r.stdout) as {
      backends: Record<string, { plugin: string; publicKey: string; directory: string; files: string[] }>;
    };
    const [protocol, b] = Object.entries(res.backends)[0];
    expect(b.plugin).to.equal('@rustynet/backend-wireguard');
    expect(b.directory).to.equal(join(dir, protocol));
    expect(b.publicKey.length).to.be.greaterThan(0);
    expect(b.files.length).to.be.greaterThan(0);
    for (const f of b.files) {
      const text = await readFile(f, 'utf8');
      const mode = (await stat(f)).mode & 0o777;
      if (mode === 0o600 && text.trim() !== b.publicKey) expect(r.stdout).to.not.contain(text.trim());
    }
  });
});

describe('rustynet netmap sign / verify', () => {
  let dir: string;
  let cpKey: string;
  let cpPub: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'rn-netmap-'));
    const r = await rn(['keygen', '--out', join(dir, 'cp'), '--control-plane', '--no-identity', '--json']);
    expect(r.code, r.stderr).to.equal(0);
    cpKey = join(dir, 'cp', 'control-plane.key');
    cpPub = join(dir, 'cp', 'control-plane.pub');
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  async function signTo(name: string, doc: unknown): Promise<string> {
    const inFile = join(dir, `${name}.in.json`);
    const outFile = join(dir, `${name}.json`);
    await writeFile(inFile, JSON.stringify(doc));
    const r = await rn(['netmap', 'sign', '--key', cpKey, '--in', inFile, '--out', outFile]);
    expect(r.code, r.stderr).to.equal(0);
    return outFile;
  }

  it('signs a file and verifies it with the public key file or the base64 key', async () => {
    const file = await signTo('ok', netmapDoc(3));
    const signed = JSON.parse(await readFile(file, 'utf8')) as { netmap: { version: number }; signature: { alg: string; value: string } };
    expect(signed.netmap.version).to.equal(3);
    expect(signed.signature.alg).to.equal('Ed25519');
    const v = await rn(['netmap', 'verify', '--pubkey', cpPub, file]);
    expect(v.code, v.stderr).to.equal(0);
    expect(v.stdout).to.match(/^OK: netmap version 3 \(unit\), issued .*, 2 nodes/);
    expect(v.stdout).to.match(/\nn1\s+100\.64\.0\.1\/32,fd7a:115c:a1e0::1\/128\s+198\.18\.0\.1:51820\s+example\n/);
    const pubText = (await readFile(cpPub, 'utf8')).trim();
    const j = await rn(['netmap', 'verify', '--pubkey', pubText, file, '--json']);
    expect(j.code, j.stderr).to.equal(0);
    const parsed = JSON.parse(j.stdout) as {
      ok: boolean;
      version: number;
      expiresAt: string;
      nodes: Array<{ id: string; keys: string[] }>;
    };
    expect(parsed.ok).to.equal(true);
    expect(parsed.version).to.equal(3);
    expect(parsed.nodes.map((n) => n.id)).to.deep.equal(['n1', 'n2']);
    expect(parsed.nodes[0].keys).to.deep.equal(['example']);
  });

  it('signs stdin to stdout, and re-signs an already signed netmap', async () => {
    const r = await rn(['netmap', 'sign', '--key', cpKey], { stdin: JSON.stringify(netmapDoc(4)) });
    expect(r.code, r.stderr).to.equal(0);
    const again = await rn(['netmap', 'sign', '--key', cpKey, '--in', '-'], { stdin: r.stdout });
    expect(again.code, again.stderr).to.equal(0);
    expect(JSON.parse(again.stdout)).to.deep.equal(JSON.parse(r.stdout)); // Ed25519 is deterministic
    const v = await rn(['netmap', 'verify', '--pubkey', cpPub, '-'], { stdin: again.stdout });
    expect(v.code, v.stderr).to.equal(0);
  });

  it('a tampered netmap fails with NETMAP_SIGNATURE_INVALID (exit 1); --json also reports it', async () => {
    const file = await signTo('tamper', netmapDoc(5));
    const doc = JSON.parse(await readFile(file, 'utf8')) as { netmap: { nodes: Array<{ endpoints: Array<{ port: number }> }> } };
    doc.netmap.nodes[0].endpoints[0].port = 4444;
    await writeFile(file, JSON.stringify(doc));
    const v = await rn(['netmap', 'verify', '--pubkey', cpPub, file]);
    expect(v.code).to.equal(1);
    expect(v.stderr).to.match(/^rustynet: NETMAP_SIGNATURE_INVALID: /);
    expect(v.stdout).to.equal('');
    const j = await rn(['netmap', 'verify', '--pubkey', cpPub, file, '--json']);
    expect(j.code).to.equal(1);
    expect(JSON.parse(j.stdout)).to.deep.include({ ok: false });
    expect((JSON.parse(j.stdout) as { error: { code: string } }).error.code).to.equal('NETMAP_SIGNATURE_INVALID');
  });

  it('another control-plane key fails with NETMAP_SIGNATURE_INVALID', async () => {
    const file = await signTo('otherkey', netmapDoc(6));
    const v = await rn(['netmap', 'verify', '--pubkey', Buffer.alloc(32, 7).toString('base64'), file]);
    expect(v.code).to.equal(1);
    expect(v.stderr).to.match(/^rustynet: NETMAP_SIGNATURE_INVALID: /);
  });

  it('an expired netmap is signed with a warning and fails verification with NETMAP_EXPIRED', async () => {
    const now = Date.now();
    const inFile = join(dir, 'expired.in.json');
    await writeFile(inFile, JSON.stringify(netmapDoc(7, { issuedAt: new Date(now - 7_200_000), expiresAt: new Date(now - 3_600_000) })));
    const s = await rn(['netmap', 'sign', '--key', cpKey, '--in', inFile, '--out', join(dir, 'expired.json')]);
    expect(s.code, s.stderr).to.equal(0);
    expect(s.stderr).to.contain('warning: netmap version 7 is already expired');
    const v = await rn(['netmap', 'verify', '--pubkey', cpPub, join(dir, 'expired.json')]);
    expect(v.code).to.equal(1);
    expect(v.stderr).to.match(/^rustynet: NETMAP_EXPIRED: /);
  });

  it('refuses to sign an invalid netmap (NETMAP_INVALID) or with a key file readable by others (KEY_INVALID)', async () => {
    const bad = await rn(['netmap', 'sign', '--key', cpKey], { stdin: JSON.stringify({ version: 1, nodes: [] }) });
    expect(bad.code).to.equal(1);
    expect(bad.stderr).to.match(/^rustynet: NETMAP_INVALID: /);
    const notJson = await rn(['netmap', 'sign', '--key', cpKey], { stdin: '{nope' });
    expect(notJson.code).to.equal(1);
    expect(notJson.stderr).to.match(/^rustynet: NETMAP_INVALID: the netmap input is not valid JSON/);
    const loose = join(dir, 'loose.key');
    await writeFile(loose, await readFile(cpKey, 'utf8'));
    await chmod(loose, 0o644);
    const k = await rn(['netmap', 'sign', '--key', loose], { stdin: JSON.stringify(netmapDoc(8)) });
    expect(k.code).to.equal(1);
    expect(k.stderr).to.match(/^rustynet: KEY_INVALID: .*0644/);
  });

  it('refuses a netmap with a repeated member (DUPLICATE_KEY naming it) in sign and verify', async () => {
    const dup = JSON.stringify(netmapDoc(10)).replace('"version":', '"version":11,"version":');
    const sign = await rn(['netmap', 'sign', '--key', cpKey], { stdin: dup });
    expect(sign.code).to.equal(1);
    expect(sign.stderr).to.match(/^rustynet: DUPLICATE_KEY: .*"version" appears twice at version/);
    const file = await signTo('dupkey', netmapDoc(12));
    const text = await readFile(file, 'utf8');
    await writeFile(file, text.replace('"signature":', '"signature":{},"signature":'));
    const v = await rn(['netmap', 'verify', '--pubkey', cpPub, file]);
    expect(v.code).to.equal(1);
    expect(v.stderr).to.match(/^rustynet: DUPLICATE_KEY: .*at signature/);
  });

  it('a --pubkey that is neither a key nor a key file fails with KEY_INVALID', async () => {
    const file = await signTo('pk', netmapDoc(9));
    const v = await rn(['netmap', 'verify', '--pubkey', join(dir, 'missing.pub'), file]);
    expect(v.code).to.equal(1);
    expect(v.stderr).to.match(/^rustynet: KEY_INVALID: --pubkey is neither/);
  });
});

describe('rustynetd config handling', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'rn-d-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('a missing or invalid config is a load error (exit 2) naming the code', async () => {
    const missing = await rnd(['--config', join(dir, 'none.json')]);
    expect(missing.code).to.equal(2);
    expect(missing.stderr).to.match(/^rustynetd: CONFIG_INVALID: /);
    await writeFile(join(dir, 'bad.json'), JSON.stringify({ node: 'A!' }));
    const bad = await rnd(['--config', join(dir, 'bad.json')]);
    expect(bad.code).to.equal(2);
    expect(bad.stderr).to.match(/^rustynetd: CONFIG_INVALID: /);
  });

  it('a backend plugin that cannot be loaded stops the daemon again: exit 2, code printed, no socket left', async () => {
    const cfg = {
      node: 'a',
      stateDir: join(dir, 'state-fail'),
      socket: join(dir, 'fail.sock'),
      controlPlaneKey: Buffer.alloc(32, 1).toString('base64'),
      netmap: { file: join(dir, 'netmap.json') },
      backend: { plugin: join(dir, 'no-such-backend'), interfaceName: 'rnunit1', keyDirectory: join(dir, 'keys') },
      log: { level: 'silent' },
    };
    await writeFile(join(dir, 'fail.json'), JSON.stringify(cfg));
    const r = await rnd(['--config', join(dir, 'fail.json')]);
    expect(r.code).to.equal(2);
    expect(r.stderr).to.match(/^rustynetd: PLUGIN_NOT_FOUND: /m);
    const left = await stat(join(dir, 'fail.sock')).then(
      () => true,
      () => false,
    );
    expect(left, 'API socket left behind').to.equal(false);
  });

  it('--check validates the config, prints what it checked and fails naming the missing keys and netmap', async () => {
    const cfg = {
      node: 'a',
      stateDir: join(dir, 'state'),
      socket: join(dir, 'a.sock'),
      controlPlaneKey: Buffer.alloc(32, 1).toString('base64'),
      netmap: { file: join(dir, 'netmap.json') },
      backend: { plugin: '@rustynet/backend-wireguard', interfaceName: 'rnunit0', keyDirectory: join(dir, 'keys') },
    };
    await writeFile(join(dir, 'ok.json'), JSON.stringify(cfg));
    const r = await rnd(['--config', join(dir, 'ok.json'), '--check', '--json']);
    expect(r.code).to.equal(2);
    const out = JSON.parse(r.stdout) as { effective: unknown; checks: Array<{ field: string; result: string }> };
    expect(out.effective).to.deep.include({ node: 'a', socket: join(dir, 'a.sock') });
    const failed = out.checks.filter((c) => c.result === 'fail').map((c) => c.field);
    expect(failed).to.deep.equal(['backend.keyDirectory', 'netmap.file']);
    expect(r.stderr).to.match(/^rustynetd: KEY_INVALID: backend\.keyDirectory: .* \(and 1 more\)/);
  });
});
