import { expect } from 'chai';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes, verify, createPublicKey } from 'node:crypto';
import { isRustynetError } from '@rustynet/plugin-api';
import {
  Daemon,
  generateEd25519KeyPair,
  localApiRequest,
  signNetmap,
  writeKeyFile,
  type DaemonConfig,
  type DaemonStatus,
} from '../src/index.js';
import { FAKE_BACKEND_SOURCE, fakeBackendManifest, makeNetmap, testServices, tmpDir, writePluginFixture } from './helpers.js';

const DNS_SOURCE = `
export function createPlugin(context) {
  const log = (globalThis.__fakeDnsCalls ??= []);
  return {
    kind: 'dns',
    capabilities: () => ({ aaaa: true, forwarder: false, rateLimit: false }),
    async start(cfg) { log.push({ start: cfg }); },
    async stop() { log.push('stop'); },
    async update(zone) { log.push({ update: zone }); },
  };
}
`;

const RELAY_SOURCE = `
export function createPlugin(context) {
  const log = (globalThis.__fakeRelayCalls ??= []);
  return {
    kind: 'relay',
    capabilities: () => ({ ipv6: false, maxDatagram: 1500 }),
    async start(cfg) {
      const challenge = new Uint8Array([1, 2, 3, 4]);
      const sig = await cfg.sign(challenge);
      log.push({ start: { nodeId: cfg.nodeId, relays: cfg.relays, sig: Buffer.from(sig).toString('base64'), keys: Object.keys(cfg) } });
    },
    async stop() { log.push('stop'); },
    async openPath() { throw new Error('unused'); },
    async closePath() {},
    async status() { return []; },
  };
}
`;

describe('Daemon with dns and relay plugins', function () {
  this.timeout(20000);
  const g = globalThis as Record<string, unknown>;

  it('starts dns on the mesh IPv4 + loopback with its port option, feeds zone data; relay gets relays and a signer', async () => {
    const dir = tmpDir('rn-dmn2-');
    const cp = generateEd25519KeyPair();
    const identity = generateEd25519KeyPair();
    await writeKeyFile(join(dir, 'id.key'), identity.privateKeyPem);
    const nm = makeNetmap(2, 1);
    nm.dns = { zone: 'mesh.test' };
    nm.nodes[1].name = 'db';
    nm.relays = [{ id: 'r1', endpoint: { host: '198.18.9.9', port: 3478 } }];
    writeFileSync(join(dir, 'netmap.json'), JSON.stringify(signNetmap(nm, cp.privateKeyPem)));
    const config: DaemonConfig = {
      node: 'n0',
      stateDir: join(dir, 'state'),
      socket: join(dir, 's.sock'),
      controlPlaneKey: cp.publicKeyB64,
      identityKeyFile: join(dir, 'id.key'),
      netmap: { file: join(dir, 'netmap.json'), pollIntervalMs: 3_600_000 },
      backend: {
        plugin: writePluginFixture(join(dir, 'b'), fakeBackendManifest(), FAKE_BACKEND_SOURCE),
        interfaceName: `rt${randomBytes(3).toString('hex')}`,
        keyDirectory: join(dir, 'keys'),
      },
      plugins: [
        {
          plugin: writePluginFixture(
            join(dir, 'dns'),
            {
              name: 'fake-dns',
              version: '0.1.0',
              kind: 'dns',
              apiVersions: ['1.0'],
              entry: './index.mjs',
              capabilities: { aaaa: true, forwarder: false, rateLimit: false },
              configSchema: { type: 'object', properties: { port: { type: 'integer', default: 53 } } },
            },
            DNS_SOURCE,
          ),
          options: { port: 5353 },
        },
        {
          plugin: writePluginFixture(
            join(dir, 'relay'),
            {
              name: 'fake-relay',
              version: '0.1.0',
              kind: 'relay',
              apiVersions: ['1.0'],
              entry: './index.mjs',
              capabilities: { ipv6: false, maxDatagram: 1500 },
            },
            RELAY_SOURCE,
          ),
        },
      ],
    };
    // The mesh IPv4 is "assigned" (the fake backend assigns nothing in this namespace).
    const daemon = new Daemon(config, { services: testServices(config.stateDir), localAddresses: () => ['127.0.0.1', '100.64.0.1'] });
    await daemon.start();
    try {
      const dns = g.__fakeDnsCalls as Array<Record<string, unknown>>;
      expect(dns[0]).to.deep.equal({
        start: {
          listen: [
            { host: '100.64.0.1', port: 5353 },
            { host: '127.0.0.1', port: 5353 },
          ],
        },
      });
      expect(dns[1]).to.deep.equal({
        update: {
          zone: 'mesh.test',
          nodes: [
            { id: 'n0', name: 'n0', addresses: ['100.64.0.1', 'fd00::1'] },
            { id: 'n1', name: 'db', addresses: ['100.64.0.2', 'fd00::2'] },
          ],
        },
      });
      const relay = g.__fakeRelayCalls as Array<{ start: { nodeId: string; relays: unknown; sig: string; keys: string[] } }>;
      expect(relay[0].start.nodeId).to.equal('n0');
      expect(relay[0].start.relays).to.deep.equal(nm.relays);
      expect(relay[0].start.keys.sort()).to.deep.equal(['nodeId', 'relays', 'sign']);
      const pub = createPublicKey({
        key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(identity.publicKeyB64, 'base64').toString('base64url') },
        format: 'jwk',
      });
      expect(verify(null, new Uint8Array([1, 2, 3, 4]), pub, Buffer.from(relay[0].start.sig, 'base64'))).to.equal(true);
      const s = (await localApiRequest(config.socket, 'GET', '/v1/status')).json as DaemonStatus;
      expect(s.plugins.map((p) => p.kind)).to.deep.equal(['backend', 'dns', 'relay']);
    } finally {
      await daemon.stop();
    }
    expect((g.__fakeRelayCalls as unknown[]).at(-1)).to.equal('stop');
    expect((g.__fakeDnsCalls as unknown[]).at(-1)).to.equal('stop');
  });

  it('refuses to start with a relay plugin but no identity key, and a second plugin of one kind', async () => {
    const dir = tmpDir('rn-dmn3-');
    const cp = generateEd25519KeyPair();
    const relayDir = writePluginFixture(
      join(dir, 'relay'),
      { name: 'fake-relay', version: '0.1.0', kind: 'relay', apiVersions: ['1.0'], entry: './index.mjs', capabilities: {} },
      RELAY_SOURCE,
    );
    const base: DaemonConfig = {
      node: 'n0',
      stateDir: join(dir, 'state'),
      socket: join(dir, 's.sock'),
      controlPlaneKey: cp.publicKeyB64,
      netmap: { file: join(dir, 'netmap.json') },
      backend: {
        plugin: writePluginFixture(join(dir, 'b'), fakeBackendManifest(), FAKE_BACKEND_SOURCE),
        interfaceName: 'rtx0',
        keyDirectory: join(dir, 'k'),
      },
      plugins: [{ plugin: relayDir }],
    };
    const cases: Array<[DaemonConfig, string]> = [
      [base, 'identityKeyFile'],
      [{ ...base, plugins: [{ plugin: relayDir }, { plugin: relayDir }] }, 'plugins[1].plugin'],
    ];
    for (const [cfg, field] of cases) {
      const d = new Daemon(cfg, { services: testServices(base.stateDir) });
      try {
        await d.start();
        expect.fail('should throw');
      } catch (err) {
        expect(isRustynetError(err, 'CONFIG_INVALID'), String(err)).to.equal(true);
        expect((err as { field: string }).field).to.equal(field);
      }
      expect(d.state).to.equal('failed');
    }
  });
});

describe('Daemon path-controller seam', function () {
  this.timeout(20000);
  it('reapply() re-resolves endpoints through the hooks with the chosen path; no calls when nothing changed', async () => {
    const dir = tmpDir('rn-dmn4-');
    const cp = generateEd25519KeyPair();
    writeFileSync(join(dir, 'netmap.json'), JSON.stringify(signNetmap(makeNetmap(3, 1), cp.privateKeyPem)));
    const ifname = `rt${randomBytes(3).toString('hex')}`;
    const paths = new Map<string, 'direct' | 'relay'>();
    const daemon = new Daemon(
      {
        node: 'n0',
        stateDir: join(dir, 'state'),
        socket: join(dir, 's.sock'),
        controlPlaneKey: cp.publicKeyB64,
        netmap: { file: join(dir, 'netmap.json'), pollIntervalMs: 3_600_000 },
        backend: {
          plugin: writePluginFixture(join(dir, 'b'), fakeBackendManifest(), FAKE_BACKEND_SOURCE),
          interfaceName: ifname,
          keyDirectory: join(dir, 'k'),
        },
      },
      { services: testServices(join(dir, 'state')), paths: { pathFor: (id) => paths.get(id) ?? 'direct' } },
    );
    await daemon.start();
    try {
      daemon.hooks
        .forPlugin('test-relay')
        .resolvePeerEndpoint.tapPromise('sub', async (ep, ctx) => (ctx.path === 'relay' ? { host: '127.0.0.1', port: 7000 } : ep));
      const calls = () => (g().__fakeBackendCalls as Record<string, Array<{ method: string; arg: unknown }>>)[ifname] ?? [];
      const before = calls().length;
      expect((await daemon.reapply()).result).to.equal('unchanged');
      expect(calls().length).to.equal(before);
      paths.set('n2', 'relay');
      expect((await daemon.reapply()).result).to.equal('applied');
      const fresh = calls().slice(before);
      expect(fresh.map((c) => c.method)).to.deep.equal(['applyPeers']);
      expect(fresh[0].arg).to.deep.include({ remove: [] });
      expect((fresh[0].arg as { upsert: Array<{ id: string; endpoint: unknown }> }).upsert).to.have.length(1);
      expect((fresh[0].arg as { upsert: Array<{ id: string; endpoint: unknown }> }).upsert[0]).to.deep.include({
        id: 'n2',
        endpoint: { host: '127.0.0.1', port: 7000 },
      });
      const s = await daemon.status();
      expect(s.peers.find((p) => p.id === 'n2')).to.deep.include({ path: 'relay', endpoint: '127.0.0.1:7000' });
    } finally {
      await daemon.stop();
    }
  });
});

function g(): Record<string, unknown> {
  return globalThis;
}
