/**
 * Test-only helper: one OpenVPN backend instance per namespace of a {@link TestNet}, each with its
 * own key directory, state directory and namespace-prefixing runner.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { PeerConfig } from '@rustynet/plugin-api';
import { OpenVpnBackend } from '../../src/backend.js';
import { makeContext, MemoryLogger } from './context.js';
import { NetnsRunner } from './netns-runner.js';
import type { TestHostInfo, TestNet } from './netns.js';

export const BASE_PORT = 51000;

export interface MeshNode {
  id: string;
  host: TestHostInfo;
  v4: string;
  v6: string;
  keyDir: string;
  stateDir: string;
  fingerprint: string;
  runner: NetnsRunner;
  logger: MemoryLogger;
  backend: OpenVpnBackend;
  prefix: string;
}

export async function makeNodes(net: TestNet, ids: string[], options: Record<string, unknown> = {}): Promise<MeshNode[]> {
  const root = mkdtempSync(join(tmpdir(), 'rn-ovpn-test-'));
  const nodes: MeshNode[] = [];
  for (const [i, id] of ids.entries()) {
    const host = net.hosts[i];
    const runner = new NetnsRunner(host.netns);
    const logger = new MemoryLogger();
    const stateDir = join(root, id, 'state');
    const keyDir = join(root, id, 'keys');
    const backend = new OpenVpnBackend(makeContext({ runner, stateDir, options: { pingRestartS: 20, ...options }, logger }));
    const kp = await backend.generateKeyPair(keyDir);
    nodes.push({
      id,
      host,
      v4: `100.64.0.${i + 1}`,
      v6: `fd00:6f76::${i + 1}`,
      keyDir,
      stateDir,
      fingerprint: kp.publicKey,
      runner,
      logger,
      backend,
      prefix: `ov${net.tag}`,
    });
  }
  (nodes as MeshNode[] & { root?: string }).root = root;
  return nodes;
}

export function removeRoot(nodes: MeshNode[]): void {
  const root = (nodes as MeshNode[] & { root?: string }).root;
  if (root) rmSync(root, { recursive: true, force: true });
}

export async function startNode(n: MeshNode): Promise<void> {
  await n.backend.start({
    nodeId: n.id,
    addresses: [`${n.v4}/32`, `${n.v6}/128`],
    listenPort: BASE_PORT,
    interfaceName: n.prefix,
    keyDirectory: n.keyDir,
  });
}

export function peerOf(n: MeshNode): PeerConfig {
  return {
    id: n.id,
    publicKey: n.fingerprint,
    endpoint: { host: n.host.underlay, port: BASE_PORT },
    allowedIps: [`${n.v4}/32`, `${n.v6}/128`],
  };
}
