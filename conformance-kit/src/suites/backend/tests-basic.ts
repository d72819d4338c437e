import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Ajv } from 'ajv';
import { manifestSchema, type BackendCapabilities } from '@rustynet/plugin-api';
import type { KitTest } from '../define.js';
import type { BackendFixture } from './fixture.js';

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

function ajv(): Ajv {
  return new Ajv({ allErrors: true, strict: false });
}

export const manifestTests: T[] = [
  {
    id: 'backend.manifest.schema-valid',
    title: 'rustynet-plugin.json matches the manifest schema; peerKeySchema and configSchema compile',
    async run(t, fx) {
      t.begin('read rustynet-plugin.json from the plugin directory');
      const dir = fx.nodes.a.plugin.loaded.dir;
      const raw = JSON.parse(await readFile(join(dir, 'rustynet-plugin.json'), 'utf8')) as unknown;
      t.begin('validate against the manifest schema');
      const validate = ajv().compile(manifestSchema);
      t.check(validate(raw), 'manifest does not match the schema', 'no schema errors', validate.errors);
      const m = fx.manifest;
      t.check(m.kind === 'backend', 'manifest kind is not backend', 'backend', m.kind);
      const be = t.need(m.backend, 'backend manifests must have a backend section', '{ protocol, peerKeySchema }', m.backend);
      t.begin('compile backend.peerKeySchema');
      try {
        ajv().compile(be.peerKeySchema);
      } catch (err) {
        t.fail('backend.peerKeySchema does not compile', 'a valid JSON Schema', (err as Error).message);
      }
      if (m.configSchema) {
        t.begin('compile configSchema');
        try {
          ajv().compile(m.configSchema);
        } catch (err) {
          t.fail('configSchema does not compile', 'a valid JSON Schema', (err as Error).message);
        }
      }
      t.begin('entry module exists');
      await t.ok(`stat ${m.entry}`, stat(join(dir, m.entry)));
      t.begin('own public key matches peerKeySchema');
      const vk = ajv().compile(be.peerKeySchema);
      t.check(vk(fx.nodes.a.publicKey), 'the public key from generateKeyPair does not match peerKeySchema', 'valid per peerKeySchema', vk.errors);
    },
  },
  {
    id: 'backend.manifest.name-format',
    title: 'name is an npm package name equal to package.json, version is semver and matches, all capabilities declared',
    async run(t, fx) {
      const m = fx.manifest;
      t.begin('name format');
      t.check(/^(@[a-z0-9][a-z0-9._-]*\/)?[a-z0-9][a-z0-9._-]*$/.test(m.name) && m.name.length <= 214, 'name is not an npm package name', 'npm package name', m.name);
      t.check(/^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$/.test(m.version), 'version is not semver', 'MAJOR.MINOR.PATCH', m.version);
      t.begin('package.json agrees');
      const pkgText = await readFile(join(fx.nodes.a.plugin.loaded.dir, 'package.json'), 'utf8').catch(() => undefined);
      if (pkgText !== undefined) {
        const pkg = JSON.parse(pkgText) as { name?: string; version?: string };
        t.equal(m.name, pkg.name, 'manifest name differs from package.json name');
        t.equal(m.version, pkg.version, 'manifest version differs from package.json version');
      }
      t.begin('every backend capability is declared');
      const missing = BACKEND_CAPABILITY_KEYS.filter((k) => !(k in m.capabilities));
      t.check(missing.length === 0, 'manifest does not declare every backend capability', BACKEND_CAPABILITY_KEYS, { missing });
      t.check(/^[a-z][a-z0-9-]{0,31}$/.test(m.backend?.protocol ?? ''), 'backend.protocol is not a protocol id', '^[a-z][a-z0-9-]{0,31}$', m.backend?.protocol);
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

async function mode(path: string): Promise<number> {
  return (await stat(path)).mode & 0o777;
}

export const keyTests: T[] = [
  {
    id: 'backend.keys.generate',
    title: 'generateKeyPair writes 0600 private files in a 0700 directory; publicKey(dir) returns the same key',
    async run(t, fx) {
      const d = fx.nodes.d;
      const dir = join(fx.workDir, 'd', 'keys-gen');
      t.begin('generateKeyPair without start');
      const kp = await t.ok('generateKeyPair', d.plugin.call<{ publicKey: string; files: string[] }>('generateKeyPair', [dir]));
      t.check(typeof kp.publicKey === 'string' && kp.publicKey.length > 0, 'publicKey missing', 'non-empty string', kp.publicKey);
      t.check(Array.isArray(kp.files) && kp.files.length > 0, 'files missing', 'absolute paths', kp.files);
      t.begin('directory mode');
      const dm = await mode(dir);
      t.check(dm === 0o700, 'key directory mode is not 0700', '0700', dm.toString(8));
      t.begin('file modes');
      for (const f of kp.files) {
        t.check(f.startsWith('/'), 'file path is not absolute', 'absolute path', f);
        const content = (await readFile(f, 'utf8')).trim();
        const m = await mode(f);
        if (content !== kp.publicKey.trim()) t.check((m & 0o077) === 0, `private key file ${f} is readable by group or others`, '0600', m.toString(8));
      }
      t.begin('publicKey(dir)');
      const pub = await t.ok('publicKey', d.plugin.call<string>('publicKey', [dir]));
      t.equal(pub, kp.publicKey, 'publicKey(dir) differs from generateKeyPair().publicKey');
      t.begin('second generateKeyPair into the same directory');
      await t.rejects('generateKeyPair into a directory with keys', d.plugin.call('generateKeyPair', [dir]), 'KEY_INVALID');
    },
  },
];
