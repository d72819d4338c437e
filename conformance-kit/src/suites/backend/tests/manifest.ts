import { Ajv } from 'ajv';
import type { BackendCapabilities } from '@rustynet/plugin-api';
import type { KitTest } from '../../define.js';
import {
  checkCapabilityKeys,
  checkEntry,
  checkKind,
  checkManifestSchema,
  checkPackageJson,
  checkSchemaCompiles,
} from '../../common/manifest-checks.js';
import type { BackendFixture } from '../fixture.js';

type T = KitTest<BackendFixture>;

/** The capability names of a backend, in contract order. */
export const BACKEND_CAPABILITY_KEYS: (keyof BackendCapabilities)[] = [
  'roaming',
  'ipv6',
  'exitNode',
  'lanRoutes',
  'udpTransport',
  'handshakeStats',
  'maxPeers',
  'allowedIpsUpdate',
];

/** A backend's protocol id in `backend.protocol`. */
const PROTOCOL_ID = /^[a-z][a-z0-9-]{0,31}$/;

export const manifestTests: T[] = [
  {
    id: 'backend.manifest.schema-valid',
    title: 'rustynet-plugin.json matches the manifest schema; peerKeySchema and configSchema compile',
    async run(t, fx) {
      const dir = fx.nodes.a.plugin.loaded.dir;
      await checkManifestSchema(t, dir);
      const m = fx.manifest;
      checkKind(t, m, 'backend');
      const be = t.need(m.backend, 'backend manifests must have a backend section', '{ protocol, peerKeySchema }', m.backend);
      checkSchemaCompiles(t, 'backend.peerKeySchema', be.peerKeySchema, true);
      if (m.configSchema) checkSchemaCompiles(t, 'configSchema', m.configSchema, true);
      await checkEntry(t, dir, m);
      t.begin('own public key matches peerKeySchema');
      const vk = new Ajv({ allErrors: true, strict: false }).compile(be.peerKeySchema);
      t.check(
        vk(fx.nodes.a.publicKey),
        'the public key from generateKeyPair does not match peerKeySchema',
        'valid per peerKeySchema',
        vk.errors,
      );
    },
  },
  {
    id: 'backend.manifest.name-format',
    title: 'name is an npm package name equal to package.json, version is semver and matches, all capabilities declared',
    async run(t, fx) {
      const m = fx.manifest;
      t.begin('name format');
      t.check(
        /^(@[a-z0-9][a-z0-9._-]*\/)?[a-z0-9][a-z0-9._-]*$/.test(m.name) && m.name.length <= 214,
        'name is not an npm package name',
        'npm package name',
        m.name,
      );
      t.check(
        /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$/.test(m.version),
        'version is not semver',
        'MAJOR.MINOR.PATCH',
        m.version,
      );
      await checkPackageJson(t, fx.nodes.a.plugin.loaded.dir, m);
      checkCapabilityKeys(t, m, 'backend', BACKEND_CAPABILITY_KEYS);
      t.check(
        PROTOCOL_ID.test(m.backend?.protocol ?? ''),
        'backend.protocol is not a protocol id',
        PROTOCOL_ID.source,
        m.backend?.protocol,
      );
    },
  },
  {
    id: 'backend.manifest.capabilities-match',
    title: 'capabilities() at run time equals the manifest capabilities',
    async run(t, fx) {
      t.begin('call capabilities() on a fresh instance');
      const fresh = await fx.freshInstance('d');
      const before = await t.ok('capabilities()', fresh.call<BackendCapabilities>('capabilities'));
      t.equal(before, fx.manifest.capabilities, 'run-time capabilities differ from rustynet-plugin.json');
      t.begin('call capabilities() on a running instance');
      await fx.mesh();
      const running = await t.ok('capabilities()', fx.nodes.a.plugin.call<BackendCapabilities>('capabilities'));
      t.equal(running, fx.manifest.capabilities, 'run-time capabilities of a running instance differ from rustynet-plugin.json');
      await fresh.close();
    },
  },
];
