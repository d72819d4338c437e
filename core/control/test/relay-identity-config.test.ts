/** The control plane's relay config carries each relay's identity key into the netmaps it signs. */
import { expect } from 'chai';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isRustynetError, type NetmapRelay } from '@rustynet/plugin-api';
import { startControlServer } from '../src/index.js';
import { buildNetmap } from '../src/netmap/build.js';

function relayKey(): string {
  const { publicKey } = generateKeyPairSync('ed25519');
  return Buffer.from((publicKey.export({ format: 'jwk' }) as { x: string }).x, 'base64url').toString('base64');
}

describe('control: relay identity keys in the relay config', function () {
  this.timeout(20_000);
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'rn-control-relay-id-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('lists relays[].identityKey in the netmap it builds', async () => {
    const relays: NetmapRelay[] = [{ id: 'r1', endpoint: { host: '198.18.0.1', port: 3478 }, identityKey: relayKey() }];
    const server = await startControlServer({ listen: '127.0.0.1:0', dataDir: join(dir, 'data'), relays });
    try {
      const nm = buildNetmap(server.service.snapshot, { relays, lifetimeMs: 60_000 }, 'stable');
      expect(nm.relays).to.deep.equal(relays);
    } finally {
      await server.close();
    }
  });

  it('refuses a relay config with a malformed identityKey (INVALID_INPUT naming it)', async () => {
    const relays = [{ id: 'r1', endpoint: { host: '198.18.0.1', port: 3478 }, identityKey: 'not-a-key' }];
    const err = await startControlServer({ listen: '127.0.0.1:0', dataDir: join(dir, 'data'), relays }).catch((e: unknown) => e);
    expect(isRustynetError(err, 'INVALID_INPUT'), String(err)).to.equal(true);
    expect(String(err)).to.contain('identityKey');
  });
});
