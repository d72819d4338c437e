import { expect } from 'chai';
import { appendFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Netmap, NetmapDelta } from '@rustynet/plugin-api';
import { Daemon, computeNetmapDelta, signNetmapDelta, type DaemonConfig } from '../src/index.js';
import { makeNetmap, makeNode, testServices } from './helpers.js';
import { backendCalls, fileFlowRig } from './file-flow-rig.js';

describe('Daemon: signed netmap deltas through the file flow', function () {
  this.timeout(20000);
  const { dir, cp, ifname, netmapFile, stateDir, sign: signMap, get, post, status, baseConfig } = fileFlowRig('rn-dlt-', 'rd');
  const deltaFile = join(dir, 'netmap.delta.json');
  let config: DaemonConfig;
  let daemon: Daemon;
  let current: Netmap = makeNetmap(50, 1);

  /** Writes the full map and (unless `full`) the delta from the current map to it. */
  function publish(nm: Netmap, opts: { full?: boolean; tamper?: (d: NetmapDelta) => unknown } = {}): void {
    const delta = computeNetmapDelta(current, nm)!;
    writeFileSync(netmapFile, signMap(nm));
    if (opts.full) return void (current = nm);
    const out = opts.tamper ? opts.tamper(delta) : signNetmapDelta(delta, cp.privateKeyPem);
    writeFileSync(deltaFile, typeof out === 'string' ? out : JSON.stringify(out));
    current = nm;
  }
  const metric = async (re: RegExp) => Number(re.exec((await get('/metrics')).body)?.[1] ?? 0);
  function nextMap(change: (m: Netmap) => void): Netmap {
    const nm = structuredClone(current);
    nm.version++;
    change(nm);
    return nm;
  }

  before(async () => {
    writeFileSync(netmapFile, signMap(current));
    const base = await baseConfig();
    config = { ...base, netmap: { file: netmapFile, deltaFile, pollIntervalMs: 3_600_000 }, backend: { ...base.backend, mtu: 1380 } };
    daemon = new Daemon(config, { services: testServices(stateDir) });
    await daemon.start();
    expect((await status()).netmap!.version).to.equal(1);
  });
  after(async () => {
    await daemon?.stop();
  });

  it('applies a one-peer delta as one one-peer backend batch', async () => {
    publish(nextMap((m) => (m.nodes[7].endpoints = [{ host: '198.18.77.7', port: 4007 }])));
    const before = backendCalls(ifname).length;
    const r = await post('/v1/netmap/reload');
    expect(r.json).to.deep.equal({ result: 'applied', version: 2 });
    const fresh = backendCalls(ifname).slice(before);
    const peers = fresh.find((c) => c.method === 'applyPeers')!.arg as { upsert: Array<{ id: string }>; remove: string[] };
    expect(peers.upsert.map((p) => p.id)).to.deep.equal(['n7']);
    expect(peers.remove).to.deep.equal([]);
    expect(await metric(/rustynet_netmap_deltas_total\{result="applied"\} (\d+)/)).to.equal(1);
    // The full file of the same version, read afterwards, changes nothing.
    const after = backendCalls(ifname).length;
    expect((await post('/v1/netmap/reload')).json).to.deep.equal({ result: 'unchanged', version: 2 });
    expect(backendCalls(ifname).length).to.equal(after);
  });

  it('adds and removes peers by delta', async () => {
    publish(
      nextMap((m) => {
        m.nodes.splice(10, 1);
        m.nodes.push(makeNode(60));
      }),
    );
    const before = backendCalls(ifname).length;
    expect((await post('/v1/netmap/reload')).json).to.deep.equal({ result: 'applied', version: 3 });
    const peers = backendCalls(ifname)
      .slice(before)
      .find((c) => c.method === 'applyPeers')!.arg as { upsert: Array<{ id: string }>; remove: string[] };
    expect(peers.upsert.map((p) => p.id)).to.deep.equal(['n60']);
    expect(peers.remove).to.deep.equal(['n10']);
    expect((await status()).peers).to.have.length(49);
  });

  const sign = (d: NetmapDelta): unknown => signNetmapDelta(d, cp.privateKeyPem);
  const broken: Array<[string, (d: NetmapDelta) => unknown, string]> = [
    [
      'a bad signature',
      (d) => ({ ...(sign(d) as object), signature: { ...(sign(d) as { signature: object }).signature, value: `${'A'.repeat(86)}==` } }),
      'NETMAP_SIGNATURE_INVALID',
    ],
    ['a wrong result digest', (d) => sign({ ...d, digest: 'c'.repeat(64) }), 'NETMAP_DELTA_INAPPLICABLE'],
    ['hostile JSON (an unknown op)', (d) => sign({ ...d, ops: [{ op: 'exec' } as never] }), 'NETMAP_INVALID'],
    [
      'an operation on an absent node',
      (d) => sign({ ...d, ops: [...d.ops, { op: 'removeNode', id: 'ghost' }] }),
      'NETMAP_DELTA_INAPPLICABLE',
    ],
    // Unreadable delta files: the source logs it and reads the full file instead.
    ['a delta file that is not JSON', () => '{"delta": [', ''],
    ['a delta file with a duplicate member', () => '{"delta": {}, "delta": {}}', ''],
  ];
  for (const [what, tamper, code] of broken) {
    it(`falls back to the full map on ${what}, with nothing changed before`, async () => {
      const fallbacks = await metric(/rustynet_netmap_deltas_total\{result="fallback"\} (\d+)/);
      const nm = nextMap((m) => (m.nodes[5].endpoints = [{ host: '198.18.55.5', port: 4005 + m.version }]));
      publish(nm, { tamper });
      const before = backendCalls(ifname).length;
      const r = await post('/v1/netmap/reload');
      // One backend batch, the full map's: the refused delta changed nothing before it.
      const batches = backendCalls(ifname)
        .slice(before)
        .filter((c) => c.method === 'applyPeers')
        .map((c) => (c.arg as { upsert: Array<{ id: string }> }).upsert.map((p) => p.id));
      expect(batches).to.deep.equal([['n5']]);
      expect(r.json).to.deep.equal({ result: 'applied', version: nm.version });
      const s = await status();
      if (code) expect(s.lastRejection?.code).to.equal(code);
      expect(s.peers.find((p) => p.id === 'n5')?.endpoint).to.equal(`198.18.55.5:${4005 + nm.version}`);
      expect(await metric(/rustynet_netmap_deltas_total\{result="fallback"\} (\d+)/)).to.equal(fallbacks + (code ? 1 : 0));
    });
  }

  it('falls back when the delta is based on a map it does not have (base mismatch)', async () => {
    const skipped = nextMap((m) => (m.nodes[6].endpoints = [{ host: '198.18.66.6', port: 4106 }]));
    current = skipped; // v(n) never reaches the daemon
    const nm = nextMap((m) => (m.nodes[8].endpoints = [{ host: '198.18.88.8', port: 4108 }]));
    publish(nm);
    expect((await post('/v1/netmap/reload')).json).to.deep.equal({ result: 'applied', version: nm.version });
    const s = await status();
    expect(s.lastRejection?.code).to.equal('NETMAP_DELTA_INAPPLICABLE');
    expect(s.netmap!.version).to.equal(nm.version);
  });

  it('a replayed (older) delta changes nothing and is not a rejection', async () => {
    const v = (await status()).netmap!.version;
    const rejected = (await status()).lastRejection?.at;
    const base = structuredClone(current);
    base.version = v - 2;
    const old = structuredClone(current);
    old.version = v - 1;
    const before = backendCalls(ifname).length;
    writeFileSync(deltaFile, JSON.stringify(signNetmapDelta(computeNetmapDelta(base, old)!, cp.privateKeyPem)));
    const r = await post('/v1/netmap/reload');
    expect(['unchanged', 'none']).to.include((r.json as { result: string }).result);
    expect(
      backendCalls(ifname)
        .slice(before)
        .filter((c) => c.method === 'applyPeers'),
    ).to.have.length(0);
    expect((await status()).netmap!.version).to.equal(v);
    expect((await status()).lastRejection?.at).to.equal(rejected);
  });

  /** Breaks the netmap file (no source to fall back on), starts a new daemon on the same state, returns its status. */
  async function restartWithoutSource(): Promise<Awaited<ReturnType<typeof status>>> {
    writeFileSync(netmapFile, 'not json');
    daemon = new Daemon(config, { services: testServices(stateDir) });
    await daemon.start();
    return status();
  }

  it('a restarted daemon re-verifies and re-applies a delta-derived last good map', async () => {
    publish(nextMap((m) => (m.nodes[9].endpoints = [{ host: '198.18.99.9', port: 4109 }])));
    expect((await post('/v1/netmap/reload')).json).to.have.property('result', 'applied');
    const v = current.version;
    await daemon.stop();
    // The sources now hold nothing newer; the derived last good map must be the one used.
    const s = await restartWithoutSource();
    expect(s.state).to.equal('up');
    expect(s.netmap!.version).to.equal(v);
    expect(s.peers.find((p) => p.id === 'n9')?.endpoint).to.equal('198.18.99.9:4109');
  });

  it('persists deltas as journal lines; a restart with a torn last line uses the verified prefix', async () => {
    const journal = join(stateDir, 'daemon', 'netmap-journal.jsonl');
    writeFileSync(netmapFile, signMap(current)); // the full file again (the last test broke it)
    const lines = () => readFileSync(journal, 'utf8').split('\n').filter(Boolean).length;
    publish(nextMap((m) => (m.nodes.find((x) => x.id === 'n11')!.endpoints = [{ host: '198.18.11.11', port: 4111 }])));
    expect((await post('/v1/netmap/reload')).json).to.have.property('result', 'applied');
    publish(nextMap((m) => (m.nodes.find((x) => x.id === 'n12')!.endpoints = [{ host: '198.18.12.12', port: 4112 }])));
    expect((await post('/v1/netmap/reload')).json).to.have.property('result', 'applied');
    const v = current.version;
    const n = lines();
    expect(n).to.be.greaterThan(0);
    await daemon.stop();
    appendFileSync(journal, '{"delta":{"kind":"netmap-delta","baseVer'); // a crash mid-append
    const s = await restartWithoutSource();
    expect(s.state).to.equal('up');
    expect(s.netmap!.version).to.equal(v);
    expect(s.peers.find((p) => p.id === 'n12')?.endpoint).to.equal('198.18.12.12:4112');
    // The torn rest is not appended to: the next delta's map is written whole, the journal emptied.
    publish(nextMap((m) => (m.nodes.find((x) => x.id === 'n13')!.endpoints = [{ host: '198.18.13.13', port: 4113 }])));
    expect((await post('/v1/netmap/reload')).json).to.have.property('result', 'applied');
    expect(existsSync(journal)).to.equal(false);
  });
});
