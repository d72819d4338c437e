/**
 * Re-authentication after node key expiry: an unchanged pre-auth key file (even a reusable,
 * still valid key) never renews an expired node; a key file written after the last enrolment
 * does. Real control server (SQLite), real files.
 */
import { expect } from 'chai';
import { chmod, mkdtemp, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AdminClient, ControlClient, startControlServer, type RunningControlServer } from '@rustynet/control';
import { generateEd25519KeyPair } from '@rustynet/daemon';
import { reenrolIfKeyRenewed, type ReauthContext } from '../src/control-reauth.js';
import type { DaemonConfig } from '../src/daemon-api.js';

describe('control re-authentication after key expiry', function () {
  this.timeout(20_000);
  let dir: string;
  let server: RunningControlServer;
  let admin: AdminClient;
  let ctx: ReauthContext;

  const expired = async (): Promise<boolean> =>
    ((await admin.call('GET', '/admin/v1/nodes')) as { nodes: Array<{ id: string; expired: boolean }> }).nodes.find((n) => n.id === 'alpha')
      ?.expired === true;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'rn-reauth-'));
    server = await startControlServer({ listen: '127.0.0.1:0', dataDir: join(dir, 'control') });
    admin = new AdminClient(server.adminSocket);
    const { key } = (await admin.call('POST', '/admin/v1/keys', { reusable: true })) as { key: string };
    const keyFile = join(dir, 'authkey');
    await writeFile(keyFile, `${key}\n`, { mode: 0o600 });
    const client = new ControlClient({ url: server.url, identityKeyPem: generateEd25519KeyPair().privateKeyPem });
    await client.enrol({ authKey: key, name: 'alpha', keys: { p: 'k' } });
    const recordPath = join(dir, 'control-enrolment.json');
    await writeFile(recordPath, '{}\n', { mode: 0o600 });
    const past = new Date(Date.now() - 60_000);
    await utimes(keyFile, past, past);
    await admin.call('POST', '/admin/v1/nodes/alpha/expire');
    ctx = {
      config: {} as DaemonConfig,
      control: { url: server.url, authKeyFile: keyFile },
      client,
      recordPath,
      name: 'alpha',
      report: () => Promise.resolve({ p: 'k' }),
    };
  });

  afterEach(async () => {
    await server.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('does not reuse an unchanged key file, even with a valid reusable key', async () => {
    expect(await reenrolIfKeyRenewed(ctx)).to.equal(null);
    expect(await expired()).to.equal(true);
  });

  it('re-enrols with a key file written after the last enrolment, once', async () => {
    const { key } = (await admin.call('POST', '/admin/v1/keys', {})) as { key: string };
    await writeFile(ctx.control.authKeyFile, `${key}\n`, { mode: 0o600 });
    const future = new Date(Date.now() + 5_000);
    await utimes(ctx.control.authKeyFile, future, future);
    const r = await reenrolIfKeyRenewed(ctx);
    expect(r?.nodeId).to.equal('alpha');
    expect(await expired()).to.equal(false);
    // Expired again with no new key file since the re-enrolment (stamp newer than the file): nothing.
    await admin.call('POST', '/admin/v1/nodes/alpha/expire');
    const later = new Date(Date.now() + 10_000);
    await utimes(join(dir, 'control-reauth.stamp'), later, later);
    expect(await reenrolIfKeyRenewed(ctx)).to.equal(null);
    expect(await expired()).to.equal(true);
  });

  it('refuses a key file readable by others (CONFIG_INVALID), nothing changes', async () => {
    await chmod(ctx.control.authKeyFile, 0o644);
    const future = new Date(Date.now() + 5_000);
    await utimes(ctx.control.authKeyFile, future, future);
    const err = await reenrolIfKeyRenewed(ctx).catch((e: unknown) => e);
    expect((err as { code?: string }).code).to.equal('CONFIG_INVALID');
    expect(await expired()).to.equal(true);
  });
});
