import { expect } from 'chai';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateEd25519KeyPair } from '@rustynet/daemon';
import { ControlClient, openDatabase, startControlServer, type RunningControlServer } from '@rustynet/control';
import { rn } from './helpers.js';

describe('rustynet control (admin commands)', function () {
  this.timeout(30_000);
  let dir: string;
  let server: RunningControlServer;
  let data: string;
  const ctl = (args: string[], stdin?: string): ReturnType<typeof rn> =>
    rn(['control', ...args, '--data', data], stdin === undefined ? {} : { stdin });

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'rn-cli-control-'));
    data = join(dir, 'data');
    server = await startControlServer({ listen: '127.0.0.1:0', dataDir: data });
  });
  afterEach(async () => {
    await server.close();
    await rm(dir, { recursive: true, force: true });
  });

  async function enrol(name: string, tags: string[] = []): Promise<ControlClient> {
    const k = await ctl(['keys', 'create', '--tags', tags.join(','), '--expires', '10m']);
    expect(k.code, k.stderr).to.equal(0);
    expect(k.stderr).to.contain('one-time');
    const c = new ControlClient({ url: server.url, identityKeyPem: generateEd25519KeyPair().privateKeyPem });
    await c.enrol({ authKey: k.stdout.trim(), name, keys: { example: 'pub' } });
    return c;
  }

  it('keys create prints a key once; keys list never shows it', async () => {
    const k = await ctl(['keys', 'create', '--reusable', '--json']);
    const created = JSON.parse(k.stdout) as { key: string; info: { id: string; reusable: boolean } };
    expect(created.key).to.match(/^rnk_/);
    expect(created.info.reusable).to.equal(true);
    const list = await ctl(['keys', 'list', '--json']);
    expect(list.stdout).to.contain(created.info.id);
    expect(list.stdout).to.not.contain(created.key);
    expect((await ctl(['keys', 'revoke', created.info.id])).stdout).to.contain('revoked');
    const c = new ControlClient({ url: server.url, identityKeyPem: generateEd25519KeyPair().privateKeyPem });
    const err = await c.enrol({ authKey: created.key, name: 'late', keys: {} }).catch((e: unknown) => e);
    expect(String(err)).to.contain('unknown pre-auth key');
    expect((await ctl(['keys', 'revoke', created.info.id])).code).to.equal(2);
  });

  it('nodes list, rename, tag, expire, remove; unknown node is UNKNOWN_PEER (exit 1)', async () => {
    await enrol('alpha', ['web']);
    await enrol('beta');
    const list = await ctl(['nodes', 'list']);
    expect(list.stdout).to.match(/^ID\s+NAME\s+ADDRESSES/);
    expect(list.stdout).to.match(/alpha\s+alpha\s+100\.64\.0\.1\/32,fd/);
    expect((await ctl(['nodes', 'rename', 'alpha', 'alice'])).code).to.equal(0);
    const clash = await ctl(['nodes', 'rename', 'beta', 'alice']);
    expect(clash.code).to.equal(2);
    expect(clash.stderr).to.contain('INVALID_INPUT');
    const tag = JSON.parse((await ctl(['nodes', 'tag', 'alice', 'web,prod', '--json'])).stdout) as {
      node: { id: string; name: string; tags: string[] };
    };
    expect(tag.node).to.deep.include({ id: 'alpha', name: 'alice', tags: ['prod', 'web'] });
    expect((await ctl(['nodes', 'expire', 'beta'])).stdout).to.contain('node beta expired');
    expect((await ctl(['nodes', 'remove', 'alpha'])).stdout).to.contain('node alpha removed');
    const gone = await ctl(['nodes', 'remove', 'alpha']);
    expect(gone.code).to.equal(1);
    expect(gone.stderr).to.contain('UNKNOWN_PEER');
  });

  it('acl test/set refuses failing tests, canary then promote', async () => {
    await enrol('web-1', ['web']);
    await enrol('db-1', ['db', 'canary']);
    const acl = {
      rules: [{ id: 'web-db', action: 'accept', src: ['tag:web'], dst: ['tag:db'], proto: 'tcp', ports: [5432] }],
      tests: [
        { src: 'web-1', dst: 'db-1', proto: 'tcp', port: 5432, expect: 'accept' },
        { src: 'db-1', dst: 'web-1', proto: 'tcp', port: 22, expect: 'drop' },
      ],
    };
    const file = join(dir, 'acl.json');
    await writeFile(file, JSON.stringify(acl));
    const t = await ctl(['acl', 'test', file]);
    expect(t.code, t.stderr).to.equal(0);
    expect(t.stdout).to.match(/^RESULT\s+SRC/);
    const bad = join(dir, 'bad.json');
    await writeFile(bad, JSON.stringify({ ...acl, tests: [{ ...acl.tests[0], expect: 'drop' }] }));
    const refused = await ctl(['acl', 'set', bad]);
    expect(refused.code).to.equal(2);
    expect(refused.stderr).to.contain('FAIL');
    expect(JSON.parse((await ctl(['acl', 'get'])).stdout)).to.deep.equal({ rules: [] });
    expect((await ctl(['acl', 'set', file, '--canary', 'canary'])).stdout).to.contain('canary for tag:canary');
    const got = JSON.parse((await ctl(['acl', 'get', '--json'])).stdout) as { acl: unknown; canary: { tag: string } };
    expect(got.acl).to.equal(null);
    expect(got.canary.tag).to.equal('canary');
    expect((await ctl(['acl', 'promote'])).code).to.equal(0);
    expect(JSON.parse((await ctl(['acl', 'get'])).stdout)).to.deep.equal(acl);
    const status = JSON.parse((await ctl(['status', '--json'])).stdout) as { activeNodes: number; canary: string | null };
    expect(status).to.deep.include({ activeNodes: 2, canary: null });
  });

  it('every control command has --help with examples', async () => {
    for (const cmd of [
      ['serve'],
      ['status'],
      ['keys', 'create'],
      ['keys', 'list'],
      ['keys', 'revoke'],
      ['nodes', 'list'],
      ['nodes', 'rename'],
      ['nodes', 'tag'],
      ['nodes', 'remove'],
      ['nodes', 'expire'],
      ['acl', 'get'],
      ['acl', 'set'],
      ['acl', 'test'],
      ['acl', 'promote'],
      ['acl', 'rollback'],
      ['backup'],
      ['restore'],
      ['audit', 'verify'],
      ['audit', 'list'],
    ]) {
      const r = await rn(['control', ...cmd, '--help']);
      expect(r.stdout, cmd.join(' ')).to.contain('Examples:');
      if (cmd[0] !== 'serve') expect(r.stdout, cmd.join(' ')).to.contain('--json');
    }
  });

  it('backup writes a signed file (0600); restore refuses a changed byte (exit 1) and then restores it', async () => {
    await enrol('alpha');
    const out = join(dir, 'backup.json');
    const b = await ctl(['backup', '--out', out, '--json']);
    expect(b.code, b.stderr).to.equal(0);
    const info = JSON.parse(b.stdout) as { ok: boolean; nodes: number; version: number };
    expect(info).to.deep.include({ ok: true, nodes: 1 });
    expect((await stat(out)).mode & 0o777).to.equal(0o600);
    await enrol('beta');
    const text = await readFile(out, 'utf8');
    const changed = join(dir, 'changed.json');
    await writeFile(changed, text.replace('alpha', 'alphb'));
    const bad = await ctl(['restore', changed]);
    expect(bad.code).to.equal(1);
    expect(bad.stderr).to.match(/rustynet: BACKUP_INVALID: backup refused, nothing restored: SHA-256 checksum mismatch/);
    const ok = await ctl(['restore', out]);
    expect(ok.code, ok.stderr).to.equal(0);
    expect(ok.stdout).to.match(/restored 1 node\(s\) and 1 pre-auth key\(s\)/);
    for (let i = 0; i < 100 && server.service.snapshot.nodes.length !== 1; i++) await new Promise((r) => setTimeout(r, 50));
    expect(server.service.snapshot.nodes.map((n) => n.id)).to.deep.equal(['alpha']);
  });

  it('audit list shows each change; audit verify exits 1 with AUDIT_TAMPERED naming an edited record', async () => {
    await enrol('alpha');
    expect((await ctl(['nodes', 'rename', 'alpha', 'alice'])).code).to.equal(0);
    const list = await ctl(['audit', 'list', '--json']);
    expect(list.code, list.stderr).to.equal(0);
    const listed = JSON.parse(list.stdout) as { ok: boolean; records: Array<{ seq: number; type: string }> };
    expect(listed.ok).to.equal(true);
    expect(listed.records.map((r) => r.type)).to.deep.equal(['authkey.create', 'node.enrol', 'node.rename']);
    const ok = await ctl(['audit', 'verify']);
    expect(ok.code, ok.stderr).to.equal(0);
    expect(ok.stdout).to.contain('audit log OK: 3 record(s)');
    // Someone with write access to the database changes who was renamed.
    const db = await openDatabase(join(data, 'control.db'));
    await db.db.updateTable('audit_log').set({ data: '{"actor":"admin","ref":"mallory"}' }).where('seq', '=', 3).execute();
    await db.close();
    const bad = await ctl(['audit', 'verify']);
    expect(bad.code).to.equal(1);
    expect(bad.stderr).to.match(/rustynet: AUDIT_TAMPERED: control-plane audit log tampered at record 3: record 3 was edited/);
    const json = await ctl(['audit', 'verify', '--json']);
    expect(json.code).to.equal(1);
    expect((JSON.parse(json.stdout) as { verification: { brokenAt: number } }).verification.brokenAt).to.equal(3);
  });

  it('--database refuses a URL with a password (it would show in ps) and a non-postgres URL', async () => {
    const pw = await rn([
      'control',
      'backup',
      '--out',
      join(dir, 'x.json'),
      '--data',
      data,
      '--database',
      'postgres://u:secret@127.0.0.1/db',
    ]);
    expect(pw.code).to.equal(2);
    expect(pw.stderr).to.contain('--database must not carry a password');
    expect(pw.stderr).to.not.contain('secret');
    const other = await rn(['control', 'serve', '--listen', '127.0.0.1:0', '--data', data, '--database', 'mysql://h/db']);
    expect(other.code).to.equal(2);
    expect(other.stderr).to.contain('--database must be a postgres:// URL');
  });

  it('an unreachable admin socket is a clear error', async () => {
    const r = await rn(['control', 'status', '--admin-socket', join(dir, 'nope.sock')]);
    expect(r.code).to.equal(1);
    expect(r.stderr).to.match(/rustynet: NOT_RUNNING: no control plane on .*nope\.sock/);
  });
});
