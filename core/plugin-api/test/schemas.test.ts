import { expect } from 'chai';
import { Ajv } from 'ajv';
import addFormatsModule from 'ajv-formats';
import {
  claimsPersistentKeepalive,
  declaredSessionReestablishSeconds,
  manifestSchema,
  netmapSchema,
  SESSION_REESTABLISH_MAX_SECONDS,
  signedNetmapSchema,
} from '../src/index.js';

// ajv-formats ships CommonJS; under NodeNext its default export is the module object.
const addFormats = addFormatsModule as unknown as (ajv: Ajv) => Ajv;

function ajv(): Ajv {
  const a = new Ajv({ allErrors: true, strict: false });
  addFormats(a);
  return a;
}

const goodManifest = {
  name: '@acme/backend-foo',
  version: '1.2.3',
  kind: 'backend',
  apiVersions: ['1.0'],
  entry: './dist/index.js',
  capabilities: { roaming: true, maxPeers: 10 },
  backend: { protocol: 'foo', peerKeySchema: { type: 'string' } },
};

const node = (id: string, n: number) => ({
  id,
  addresses: [`100.64.0.${n}/32`, `fd7a:115c:a1e0::${n}/128`],
  endpoints: [{ host: `198.18.0.${n}`, port: 51820 }],
  keys: { foo: 'opaque' },
  identityKey: 'A'.repeat(43) + '=',
});

describe('plugin-api: JSON Schemas', () => {
  const validateManifest = ajv().compile(manifestSchema);
  const validateNetmap = ajv().compile(netmapSchema);
  const validateSigned = ajv().compile(signedNetmapSchema);

  it('accepts a good manifest', () => {
    expect(validateManifest(goodManifest), JSON.stringify(validateManifest.errors)).to.equal(true);
  });
  it('requires the backend section for backends and names bad fields', () => {
    const { backend: _b, ...noBackend } = goodManifest;
    expect(validateManifest(noBackend)).to.equal(false);
    expect(validateManifest({ ...goodManifest, apiVersions: ['1'] })).to.equal(false);
    expect(validateManifest.errors?.[0]?.instancePath).to.equal('/apiVersions/0');
    expect(validateManifest({ ...goodManifest, capabilities: { teleport: true } })).to.equal(false);
    expect(validateManifest({ ...goodManifest, kind: 'firewall' })).to.equal(false);
  });
  it('persistentKeepalive: an optional boolean capability, true when a manifest does not declare it', () => {
    for (const v of [true, false])
      expect(validateManifest({ ...goodManifest, capabilities: { ...goodManifest.capabilities, persistentKeepalive: v } })).to.equal(true);
    expect(validateManifest({ ...goodManifest, capabilities: { ...goodManifest.capabilities, persistentKeepalive: 25 } })).to.equal(false);
    expect(validateManifest.errors?.[0]?.instancePath).to.equal('/capabilities/persistentKeepalive');
    expect(claimsPersistentKeepalive(goodManifest.capabilities), 'absent').to.equal(true);
    expect(claimsPersistentKeepalive({ persistentKeepalive: true })).to.equal(true);
    expect(claimsPersistentKeepalive({ persistentKeepalive: false })).to.equal(false);
  });
  it('sessionReestablishSeconds: an optional integer capability from 1 to SESSION_REESTABLISH_MAX_SECONDS (60)', () => {
    const caps = (v: unknown) => ({ ...goodManifest, capabilities: { ...goodManifest.capabilities, sessionReestablishSeconds: v } });
    for (const v of [1, 40, SESSION_REESTABLISH_MAX_SECONDS]) expect(validateManifest(caps(v)), String(v)).to.equal(true);
    for (const v of [0, 61, 600, 2.5, '40', null]) {
      expect(validateManifest(caps(v)), String(v)).to.equal(false);
      expect(validateManifest.errors?.[0]?.instancePath).to.equal('/capabilities/sessionReestablishSeconds');
    }
    expect(SESSION_REESTABLISH_MAX_SECONDS).to.equal(60);
    expect(declaredSessionReestablishSeconds(goodManifest.capabilities), 'absent').to.equal(undefined);
    expect(declaredSessionReestablishSeconds({ sessionReestablishSeconds: 40 })).to.equal(40);
  });
  it('accepts a good netmap and rejects bad CIDRs, ids, endpoints and ACL rules', () => {
    const nm = {
      version: 1,
      issuedAt: '2026-11-23T00:00:00Z',
      expiresAt: '2026-11-24T00:00:00Z',
      nodes: [node('a', 1), node('b', 2)],
      acl: { rules: [{ action: 'accept', src: ['*'], dst: ['tag:web'], proto: 'tcp', ports: [443, '8000-8080'] }] },
    };
    expect(validateNetmap(nm), JSON.stringify(validateNetmap.errors)).to.equal(true);
    const bad = (patch: (x: typeof nm) => void) => {
      const c = structuredClone(nm);
      patch(c);
      return validateNetmap(c);
    };
    expect(bad((c) => (c.nodes[0].addresses[0] = '100.64.0.300/32'))).to.equal(false);
    expect(bad((c) => (c.nodes[0].id = 'A_B'))).to.equal(false);
    expect(bad((c) => (c.nodes[0].endpoints[0].port = 70000))).to.equal(false);
    expect(bad((c) => (c.nodes[0].endpoints[0].host = 'example.com'))).to.equal(false);
    expect(bad((c) => (c.version = 0))).to.equal(false);
    expect(bad((c) => ((c.acl.rules[0] as { proto: string }).proto = 'sctp'))).to.equal(false);
  });
  it('validates the signature envelope shape', () => {
    const sig = { alg: 'Ed25519', keyId: '0123456789abcdef', value: 'A'.repeat(86) + '==' };
    expect(validateSigned({ netmap: {}, signature: sig })).to.equal(true);
    expect(validateSigned({ netmap: {}, signature: { ...sig, alg: 'RSA' } })).to.equal(false);
  });
});
