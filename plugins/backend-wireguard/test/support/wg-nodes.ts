/** The nodes of the two-namespace integration test (wireguard.int.test.ts) and its host checks. */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { BackendPlugin } from '@rustynet/plugin-api';
import { createPlugin } from '../../src/index.js';
import { makeContext, tempDir, type RecordingLogger } from './context.js';
import { NetnsRunner } from './netns-runner.js';
import type { TwoNs } from './two-ns.js';

/** One side of the two-namespace test: its plugin, runner, keys and addresses. */
export interface Node {
  plugin: BackendPlugin;
  runner: NetnsRunner;
  logger: RecordingLogger;
  ns: string;
  ifname: string;
  keyDir: string;
  publicKey: string;
  privateKey: string;
  v4: string;
  v6: string;
  underlay: string;
  listenPort: number;
}

/** Root, and wg, wireguard-go, ip and ping installed. */
export function haveTools(): boolean {
  return process.getuid?.() === 0 && ['/usr/bin/wg', '/usr/bin/wireguard-go', '/usr/sbin/ip', '/usr/bin/ping'].every((p) => existsSync(p));
}

/** Every process's command line and environment on the host, as one string. */
export function allCmdlinesAndEnvirons(): string {
  const parts: string[] = [];
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    for (const f of ['cmdline', 'environ']) {
      try {
        parts.push(readFileSync(`/proc/${pid}/${f}`).toString('utf8').replaceAll('\0', ' '));
      } catch {
        /* process gone or not readable */
      }
    }
  }
  return parts.join('\n');
}

/**
 * Makes side `side` of `net`: a plugin over a runner in namespace `ns`, a fresh key pair, mesh
 * addresses 100.64.<subnet>.<host> and fd7a:115c:a1e0:<subnet hex>::<host>, not started.
 */
export async function makeNode(net: TwoNs, side: 'a' | 'b', ns: string, underlay: string, host: number): Promise<Node> {
  const runner = new NetnsRunner(ns);
  const ctx = makeContext(runner, { userspace: 'auto' });
  const plugin = createPlugin(ctx);
  const keyDir = join(tempDir(), 'wireguard');
  const { publicKey } = await plugin.generateKeyPair(keyDir);
  const privateKey = readFileSync(join(keyDir, 'private.key'), 'utf8').trim();
  const hex = net.subnet.toString(16);
  return {
    plugin,
    runner,
    logger: ctx.logger,
    ns,
    ifname: net.wgName(side),
    keyDir,
    publicKey,
    privateKey,
    v4: `100.64.${net.subnet}.${host}`,
    v6: `fd7a:115c:a1e0:${hex}::${host}`,
    underlay,
    listenPort: 0,
  };
}
