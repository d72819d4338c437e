import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateEd25519KeyPair } from '@rustynet/daemon';
import { AdminClient, ControlClient, startControlServer, type ControlServerOptions, type RunningControlServer } from '../src/index.js';

export interface Harness {
  dir: string;
  server: RunningControlServer;
  admin: AdminClient;
  stop(): Promise<void>;
}

export async function startHarness(opts: Partial<ControlServerOptions> = {}, dir?: string): Promise<Harness> {
  const dataDir = dir ?? (await mkdtemp(join(tmpdir(), 'rn-control-')));
  const server = await startControlServer({ listen: '127.0.0.1:0', dataDir, ...opts });
  return {
    dir: dataDir,
    server,
    admin: new AdminClient(server.adminSocket),
    stop: async () => {
      await server.close();
      if (dir === undefined) await rm(dataDir, { recursive: true, force: true });
    },
  };
}

export function newClient(url: string): ControlClient {
  return new ControlClient({ url, identityKeyPem: generateEd25519KeyPair().privateKeyPem });
}

export async function createKey(admin: AdminClient, body: Record<string, unknown> = {}): Promise<string> {
  const r = (await admin.call('POST', '/admin/v1/keys', body)) as { key: string };
  return r.key;
}
