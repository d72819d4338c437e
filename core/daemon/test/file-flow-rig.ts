/**
 * The shared set-up of the daemon tests that run one daemon on the file flow with the in-test
 * backend (daemon.test.ts, daemon-delta.test.ts, crash-consistency.test.ts): a temporary folder,
 * a control-plane key, a unique interface name, the netmap file, the local API socket, and the
 * base daemon config each test extends.
 */
import { expect } from 'chai';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { Netmap } from '@rustynet/plugin-api';
import { generateEd25519KeyPair, localApiRequest, signNetmap, writeKeyFile, type DaemonConfig, type DaemonStatus } from '../src/index.js';
import { FAKE_BACKEND_SOURCE, fakeBackendManifest, tmpDir, writePluginFixture } from './helpers.js';

/** One call recorded by FAKE_BACKEND_SOURCE. */
export type FakeCall = { method: string; arg: unknown };

/** The calls FAKE_BACKEND_SOURCE recorded for the interface `ifname` (oldest first). */
export const backendCalls = (ifname: string): FakeCall[] =>
  ((globalThis as Record<string, unknown>).__fakeBackendCalls as Record<string, FakeCall[]> | undefined)?.[ifname] ?? [];

/**
 * Paths and helpers of one file-flow daemon: everything under a fresh `tmpDir(prefix)`; the
 * interface is `<ifPrefix><6 hex>` (unique per run).
 */
export function fileFlowRig(prefix: string, ifPrefix: string) {
  const dir = tmpDir(prefix);
  const cp = generateEd25519KeyPair();
  const ifname = `${ifPrefix}${randomBytes(3).toString('hex')}`;
  const netmapFile = join(dir, 'netmap.json');
  const socket = join(dir, 'd.sock');
  const stateDir = join(dir, 'state');
  const sign = (nm: Netmap, key = cp.privateKeyPem): string => JSON.stringify(signNetmap(nm, key));
  return {
    dir,
    cp,
    ifname,
    netmapFile,
    socket,
    stateDir,
    /** The signed netmap's JSON text (signed by `key`, default the control-plane key). */
    sign,
    /** Writes `nm`, signed, to the netmap file. */
    publish: (nm: Netmap, key = cp.privateKeyPem): void => writeFileSync(netmapFile, sign(nm, key)),
    get: (path: string) => localApiRequest(socket, 'GET', path),
    post: (path: string) => localApiRequest(socket, 'POST', path),
    /** `GET /v1/status` (asserts a 200 answer). */
    status: async (): Promise<DaemonStatus> => {
      const r = await localApiRequest(socket, 'GET', '/v1/status');
      expect(r.status).to.equal(200);
      return r.json as DaemonStatus;
    },
    /**
     * Writes the in-test backend and an identity key, and returns the base config: node `n0`,
     * the netmap file polled hourly (tests trigger reloads), the backend on `ifname`.
     */
    async baseConfig(): Promise<DaemonConfig> {
      const backendDir = writePluginFixture(join(dir, 'fake-backend'), fakeBackendManifest(), FAKE_BACKEND_SOURCE);
      await writeKeyFile(join(dir, 'identity.key'), generateEd25519KeyPair().privateKeyPem);
      return {
        node: 'n0',
        stateDir,
        socket,
        controlPlaneKey: cp.publicKeyB64,
        identityKeyFile: join(dir, 'identity.key'),
        netmap: { file: netmapFile, pollIntervalMs: 3_600_000 },
        backend: { plugin: backendDir, interfaceName: ifname, keyDirectory: join(dir, 'keys') },
      };
    },
  };
}
