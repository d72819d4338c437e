/**
 * Integration test (root): a netmap expires while the daemons run and no fresher one arrives.
 * At `expiresAt` every daemon fails closed (status `expired`, no mesh traffic); a fresh map
 * resumes traffic. Prints what it measured.
 */
import { expect } from 'chai';
import { fileURLToPath } from 'node:url';
import { Mesh, checkPrerequisites, sleep, type PingResult } from '@rustynet/testbed';

const BACKEND = '@rustynet/backend-wireguard';
const REPO_ROOT = fileURLToPath(new URL('../../../../', import.meta.url));
/** Validity of the short-lived map, counted from its signing. */
const SHORT_TTL_MS = 20_000;

const ok = (rs: PingResult[]): number => rs.filter((r) => r.ok).length;

describe('netmap expiry while the daemons run', function () {
  this.timeout(240_000);
  let mesh: Mesh | undefined;
  let expiresAt = 0;
  const m = (): Mesh => {
    if (!mesh) throw new Error('mesh not created (see the before-all hook error)');
    return mesh;
  };

  before(async function () {
    const problems = checkPrerequisites([BACKEND]);
    if (problems.length > 0) throw new Error(`prerequisites: ${problems.join('; ')}`);
    mesh = await Mesh.create({ backends: [BACKEND], cwd: REPO_ROOT, pollIntervalMs: 600_000, logLevel: 'info' });
    const now = Date.now();
    expiresAt = now + SHORT_TTL_MS;
    await mesh.publish(await mesh.sign(mesh.netmap(1, { issuedAt: new Date(now - 1000), expiresAt: new Date(expiresAt) })));
    await mesh.startDaemons(BACKEND, 1);
  });

  after(async () => {
    await mesh?.destroy();
  });

  it('traffic flows before expiry', async () => {
    const rs = await m().pingMatrix();
    expect(ok(rs), 'pings before expiry').to.equal(rs.length);
  });

  it('at expiresAt every daemon fails closed: status expired, no mesh traffic', async () => {
    const mesh = m();
    await sleep(Math.max(0, expiresAt - Date.now()));
    const t0 = Date.now();
    await mesh.waitFor((_id, s) => s.state === 'expired', 'state expired', 10_000);
    console.log(`      all daemons expired ${Date.now() - t0} ms after expiresAt`);
    for (const n of mesh.nodes) {
      const s = await mesh.status(n.id);
      expect(s.netmap?.expired, n.id).to.equal(true);
      expect(s.peers, n.id).to.deep.equal([]);
    }
    const rs = await mesh.pingMatrix(1);
    console.log(`      pings after expiry: ${ok(rs)}/${rs.length} answered`);
    expect(ok(rs), 'pings after expiry').to.equal(0);
  });

  it('a fresh map resumes everything', async () => {
    const mesh = m();
    const t0 = Date.now();
    await mesh.publish(await mesh.sign(mesh.netmap(2)));
    await mesh.waitFor((_id, s) => s.state === 'up' && s.netmap?.version === 2 && s.netmap.expired === false, 'up with version 2', 30_000);
    let rs = await mesh.pingMatrix();
    while (ok(rs) < rs.length && Date.now() - t0 < 30_000) rs = await mesh.pingMatrix();
    console.log(`      traffic back ${Date.now() - t0} ms after the fresh map was published (${ok(rs)}/${rs.length} pings)`);
    expect(ok(rs)).to.equal(rs.length);
  });
});
