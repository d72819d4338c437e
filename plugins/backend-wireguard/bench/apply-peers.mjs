#!/usr/bin/env node
// Benchmark (prints, asserts nothing): applyPeers of N peers on wireguard-go inside a throw-away
// network namespace. Needs root, wireguard-tools, wireguard-go and a build:
//   cd /work/main && npx tsc -b plugins/backend-wireguard && node plugins/backend-wireguard/bench/apply-peers.mjs [N ...]
import { randomBytes } from 'node:crypto';
import { createPlugin } from '../dist/src/index.js';
import { derivePublicKey } from '../dist/src/keys.js';
import { makeContext, tempDir } from '../dist/test/support/context.js';
import { NetnsRunner } from '../dist/test/support/netns-runner.js';
import { TwoNs, sh } from '../dist/test/support/two-ns.js';

const sizes = process.argv
  .slice(2)
  .map(Number)
  .filter((n) => n > 0);
const net = await TwoNs.create();
try {
  const runner = new NetnsRunner(net.nsA);
  const plugin = createPlugin(makeContext(runner));
  const keyDir = `${tempDir()}/wg`;
  await plugin.generateKeyPair(keyDir);
  await plugin.start({
    nodeId: 'a',
    interfaceName: net.wgName('a'),
    addresses: ['100.64.0.1/32'],
    listenPort: 51820,
    keyDirectory: keyDir,
  });
  for (const n of sizes.length ? sizes : [10, 100, 1000, 5000]) {
    const peers = Array.from({ length: n }, (_, i) => ({
      id: `p${i}`,
      publicKey: derivePublicKey(randomBytes(32)),
      endpoint: { host: `198.19.${(i >> 8) & 255}.${i & 255}`, port: 51820 },
      allowedIps: [`100.${64 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}/32`, `fd7a:1::${i.toString(16)}/128`],
      persistentKeepalive: 25,
    }));
    const wgBefore = runner.calls.filter((c) => c.file === 'wg').length;
    const t0 = performance.now();
    await plugin.applyPeers({ upsert: peers, remove: [] });
    const t1 = performance.now();
    const wgCalls = runner.calls.filter((c) => c.file === 'wg').length - wgBefore;
    const argBytes = runner.calls.at(-1).args.reduce((s, a) => s + a.length + 1, 0);
    const count = (await sh('ip', ['netns', 'exec', net.nsA, 'wg', 'show', net.wgName('a'), 'peers'])).stdout.trim().split('\n').length;
    const t2 = performance.now();
    await plugin.stats();
    const t3 = performance.now();
    await plugin.applyPeers({ upsert: [], remove: peers.map((p) => p.id) });
    const t4 = performance.now();
    console.log(
      `${String(n).padStart(6)} peers: apply ${(t1 - t0).toFixed(0)} ms in ${wgCalls} wg call(s) (last argv ${(argBytes / 1024).toFixed(0)} KiB), ` +
        `wg shows ${count}, stats ${(t3 - t2).toFixed(0)} ms, remove ${(t4 - t3).toFixed(0)} ms`,
    );
  }
  await plugin.stop();
} finally {
  net.destroySync();
}
