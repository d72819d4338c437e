/**
 * Integration test (root): hostile netmaps reach running daemons: one over the 16 MiB size limit
 * and one with a repeated JSON member (RFC 7493). Each is refused with its named error, and
 * nothing changes: same netmap version, same peers, traffic flows. Prints what it measured.
 */
import { expect } from 'chai';
import { Mesh, writeNetmapFile } from '@rustynet/testbed';
import { LocalApiClient, type DaemonStatus } from '../src/api-client.js';
import { created, startMesh } from './mesh-fixture.js';

const BACKEND = '@rustynet/backend-wireguard';

function peerView(s: DaemonStatus): unknown {
  return s.peers.map((p) => ({ id: p.id, allowedIps: [...p.allowedIps].sort() })).sort((a, b) => a.id.localeCompare(b.id));
}

describe('hostile netmaps: oversized, duplicate keys', function () {
  this.timeout(240_000);
  let mesh: Mesh | undefined;
  const baseline: Record<string, unknown> = {};
  const m = (): Mesh => created(mesh);

  before(async function () {
    mesh = await startMesh(BACKEND, { pollIntervalMs: 600_000 });
    for (const n of mesh.nodes) baseline[n.id] = peerView(await mesh.status(n.id));
  });

  after(async () => {
    await mesh?.destroy();
  });

  /** Writes `text` as every node's netmap, reloads, and checks the named refusal and no change. */
  async function expectRefused(text: string, code: string, field: string): Promise<void> {
    const mesh = m();
    for (const n of mesh.nodes) {
      await writeNetmapFile(n.netmapFile, text);
      const t0 = Date.now();
      const r = (await new LocalApiClient(n.socket).reloadNetmap()) as { result: string; error?: { code: string; field?: string } };
      console.log(`      ${n.id}: ${r.result} ${r.error?.code ?? ''} (${r.error?.field ?? ''}) in ${Date.now() - t0} ms`);
      expect(r.result, n.id).to.equal('rejected');
      expect(r.error, n.id).to.deep.include({ code, field });
      const s = await mesh.status(n.id);
      expect(s.state, n.id).to.equal('up');
      expect(s.netmap?.version, n.id).to.equal(1);
      expect(s.lastRejection?.code, n.id).to.equal(code);
      expect(peerView(s), n.id).to.deep.equal(baseline[n.id]);
    }
    const rs = await mesh.pingMatrix();
    expect(rs.filter((x) => !x.ok).map((x) => `${x.from}->${x.to}`)).to.deep.equal([]);
  }

  it('a netmap over 16 MiB is refused before parsing (NETMAP_TOO_LARGE), nothing changes', async () => {
    const mesh = m();
    const signed = JSON.stringify(await mesh.sign(mesh.netmap(2)));
    // Valid JSON with a valid signature: only its size is wrong.
    const text = `${signed}${' '.repeat(16 * 1024 * 1024)}`;
    console.log(`      oversized map: ${(text.length / 2 ** 20).toFixed(1)} MiB`);
    await expectRefused(text, 'NETMAP_TOO_LARGE', 'netmap.file');
  });

  it('a netmap with a repeated member is refused (DUPLICATE_KEY naming it), nothing changes', async () => {
    const mesh = m();
    const signed = JSON.stringify(await mesh.sign(mesh.netmap(3)));
    // The signed map says version 3; a second "version" member would win under JSON.parse.
    const text = signed.replace('"version":3', '"version":99,"version":3');
    expect(text).to.not.equal(signed);
    await expectRefused(text, 'DUPLICATE_KEY', 'netmap.version');
  });
});
