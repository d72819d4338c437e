import { expect } from 'chai';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { Netmap } from '@rustynet/plugin-api';
import { Daemon, generateEd25519KeyPair, signNetmap, type IngestResult } from '../src/index.js';
import { fakeBackendManifest, makeNetmap, testServices, tmpDir, writePluginFixture } from './helpers.js';

/** A backend whose applyPeers takes `globalThis.__slowApplyMs` unless its signal aborts. */
const SLOW_BACKEND_SOURCE = `
export function createPlugin(context) {
  let running = null;
  const log = (globalThis.__slowCalls ??= []);
  const err = (code, m) => { const e = new Error(m); e.name = 'RustynetError'; e.code = code; return e; };
  const wait = (ms, signal) => new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(err('ABORTED', 'aborted'));
    const t = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => { clearTimeout(t); reject(err('ABORTED', 'applyPeers aborted')); }, { once: true });
  });
  return {
    kind: 'backend',
    capabilities: () => ({ roaming: true, ipv6: true, exitNode: false, lanRoutes: true, udpTransport: true, handshakeStats: true, maxPeers: 10000, allowedIpsUpdate: true }),
    async generateKeyPair() { throw new Error('unused'); },
    async publicKey() { return 'x'; },
    async start(cfg, o) { log.push({ m: 'start', signal: !!o?.signal }); running = cfg; },
    async stop(o) { log.push({ m: 'stop', signal: !!o?.signal, timeoutMs: o?.timeoutMs }); running = null; },
    async applyPeers(b, o) {
      log.push({ m: 'applyPeers', upsert: b.upsert.length, remove: b.remove.length, signal: !!o?.signal });
      await wait(globalThis.__slowApplyMs ?? 0, o?.signal);
    },
    async applyRoutes(c, o) { log.push({ m: 'applyRoutes', signal: !!o?.signal }); },
    async updatePeerEndpoint() {},
    async stats() { return { interfaces: [running.interfaceName], listenPort: 40000, peers: [] }; },
  };
}
`;

type SlowCall = { m: string; upsert?: number; remove?: number; signal: boolean; timeoutMs?: number };
const g = globalThis as { __slowCalls?: SlowCall[]; __slowApplyMs?: number };

describe('Daemon: prompt shutdown during a long apply', function () {
  this.timeout(30000);
  const dir = tmpDir('rn-stop-');
  const cp = generateEd25519KeyPair();
  const netmapFile = join(dir, 'netmap.json');
  const publish = (nm: Netmap): void => writeFileSync(netmapFile, JSON.stringify(signNetmap(nm, cp.privateKeyPem)));

  it('aborts the apply at once, answers a queued reload, tears everything down within the budget', async () => {
    const backendDir = writePluginFixture(join(dir, 'slow-backend'), fakeBackendManifest({ name: 'slow-backend' }), SLOW_BACKEND_SOURCE);
    g.__slowCalls = [];
    g.__slowApplyMs = 0;
    publish(makeNetmap(3, 1));
    const daemon = new Daemon(
      {
        node: 'n0',
        stateDir: join(dir, 'state'),
        socket: join(dir, 'd.sock'),
        controlPlaneKey: cp.publicKeyB64,
        netmap: { file: netmapFile, pollIntervalMs: 3_600_000 },
        backend: { plugin: backendDir, interfaceName: `rs${randomBytes(3).toString('hex')}`, keyDirectory: join(dir, 'keys') },
      },
      { services: testServices(join(dir, 'state')) },
    );
    await daemon.start();
    expect(daemon.state).to.equal('up');

    // A long apply (30 s unless aborted) of a bigger map, and a reload queued behind it.
    g.__slowApplyMs = 30_000;
    publish(makeNetmap(300, 2));
    const first = daemon.reload();
    // Wait until the long apply is really in the backend (not a fixed sleep: loaded machines).
    for (let i = 0; i < 200 && !g.__slowCalls.some((c) => c.m === 'applyPeers' && c.upsert === 299); i++) {
      await new Promise((r) => setTimeout(r, 50));
    }
    const queued: Promise<IngestResult | string> = daemon.reload().catch((e: unknown) => (e as { code: string }).code);

    const t0 = performance.now();
    await daemon.stop();
    const stopMs = performance.now() - t0;
    console.log(`      stop during a 30 s apply took ${Math.round(stopMs)} ms`);
    expect(stopMs).to.be.below(3000);

    const r1 = await first;
    expect(r1.result).to.equal('failed');
    expect(r1.error?.['code']).to.equal('ABORTED');
    expect(await queued).to.equal('NOT_RUNNING');

    const calls = g.__slowCalls;
    const apply = calls.find((c) => c.m === 'applyPeers' && c.upsert === 299);
    expect(apply?.signal, 'the apply call carried the signal').to.equal(true);
    const stop = calls.at(-1);
    expect(stop?.m).to.equal('stop');
    expect(stop?.signal, 'teardown calls are not aborted by the fired signal').to.equal(false);
    expect(stop?.timeoutMs).to.be.at.most(2000);
    expect(daemon.state).to.equal('down');
  });
});
