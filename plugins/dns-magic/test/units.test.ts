import { readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import { manifestSchema } from '@rustynet/plugin-api';
import {
  DNS_MAGIC_CAPABILITIES,
  TokenBucketLimiter,
  compileZone,
  dnsMagicConfigSchema,
  installNetnsResolvConf,
  parseOptions,
  removeNetnsResolvConf,
  renderResolvConf,
  splitDnsCommands,
} from '../src/index.js';

const pkgDir = fileURLToPath(new URL('../../', import.meta.url));

describe('dns-magic manifest', () => {
  const manifest = JSON.parse(readFileSync(join(pkgDir, 'rustynet-plugin.json'), 'utf8')) as Record<string, unknown>;
  it('is a dns plugin with the entry, API version and capabilities the code reports', () => {
    expect(manifest.kind).to.equal('dns');
    expect(manifest.apiVersions).to.deep.equal(['1.0']);
    expect(manifest.entry).to.equal('./dist/src/index.js');
    expect(manifest.capabilities).to.deep.equal(DNS_MAGIC_CAPABILITIES);
    for (const k of manifestSchema.required) expect(manifest, k).to.have.property(k);
    for (const k of Object.keys(manifest)) expect(manifestSchema.properties, k).to.have.property(k);
  });
  it('carries the same configSchema as the code', () => {
    expect(manifest.configSchema).to.deep.equal(JSON.parse(JSON.stringify(dnsMagicConfigSchema)));
  });
  it('contains no backend words', () => {
    const words = /wireguard|\bwg\b|openvpn/i;
    expect(words.test(readFileSync(join(pkgDir, 'rustynet-plugin.json'), 'utf8'))).to.equal(false);
    for (const f of ['index', 'plugin', 'responder', 'zone', 'options', 'rate-limit', 'host-resolver', 'standalone']) {
      expect(words.test(readFileSync(join(pkgDir, 'src', `${f}.ts`), 'utf8')), f).to.equal(false);
    }
  });
});

describe('dns-magic options', () => {
  it('applies defaults', () => {
    const o = parseOptions({});
    expect(o).to.deep.include({ port: 53, zone: 'rustynet', ttl: 60, negativeTtl: 60, forwarder: null });
    expect(o.rateLimit).to.deep.equal({ qps: 500, burst: 1000, action: 'drop', maxSources: 65536 });
    expect(parseOptions({ rateLimit: false }).rateLimit).to.equal(null);
    expect(parseOptions({ forwarder: { host: '::1', port: 53 } }).forwarder).to.deep.equal({
      host: '::1',
      port: 53,
      timeoutMs: 2000,
      maxInflight: 256,
    });
  });
});

describe('dns-magic zone compiler', () => {
  it('normalises the apex and names to lower case', () => {
    const z = compileZone({
      zone: 'Mesh.Example.',
      nodes: [{ id: 'a', name: 'Alpha', addresses: ['100.64.0.1', '100.64.0.1', 'FD00::1'] }],
    });
    expect(z.zone).to.equal('mesh.example');
    expect(z.labels).to.deep.equal(['mesh', 'example']);
    expect(z.names.get('alpha')).to.deep.equal({ id: 'a', v4: ['100.64.0.1'], v6: ['FD00::1'] });
    expect(z.names.get('a')?.id).to.equal('a');
  });
  it('reports name conflicts with the winner', () => {
    const z = compileZone({
      zone: 'rustynet',
      nodes: [
        { id: 'z', name: 'web', addresses: [] },
        { id: 'm', name: 'web', addresses: [] },
        { id: 'q', name: 'z', addresses: [] },
      ],
    });
    expect(z.names.get('web')?.id).to.equal('m');
    expect(z.names.get('z')?.id).to.equal('z');
    expect(z.conflicts).to.deep.include({ name: 'web', winner: 'm', losers: ['z'] });
    expect(z.conflicts).to.deep.include({ name: 'z', winner: 'z', losers: ['q'] });
  });
  it('limits addresses per node', () => {
    const addresses = Array.from({ length: 257 }, (_, i) => `10.0.${i >> 8}.${i & 255}`);
    expect(() => compileZone({ zone: 'r', nodes: [{ id: 'a', name: 'a', addresses }] }))
      .to.throw()
      .with.property('field', 'nodes[0].addresses');
  });
});

describe('dns-magic token bucket', () => {
  it('allows burst, then qps per second, per source', () => {
    const l = new TokenBucketLimiter(2, 3, 100);
    const t0 = 1000;
    expect([1, 2, 3, 4].map(() => l.take('a', t0))).to.deep.equal([true, true, true, false]);
    expect(l.take('b', t0)).to.equal(true); // other source, own bucket
    expect(l.take('a', t0 + 499)).to.equal(false); // 0.998 token
    expect(l.take('a', t0 + 500)).to.equal(true); // 1 token after 500 ms at 2 qps
    expect(l.take('a', t0 + 500)).to.equal(false);
    expect([1, 2, 3, 4].map(() => l.take('a', t0 + 100_000))).to.deep.equal([true, true, true, false]); // capped at burst
  });
  it('bounds the number of tracked sources', () => {
    const l = new TokenBucketLimiter(1, 1, 10);
    for (let i = 0; i < 100; i++) l.take(`s${i}`, 0);
    expect(l.size).to.be.at.most(10);
  });
});

describe('dns-magic host resolver helpers', () => {
  it('renders resolv.conf', () => {
    expect(renderResolvConf({ nameservers: ['100.64.0.1'], search: ['Rustynet'], options: ['timeout:1', 'edns0'] })).to.equal(
      '# Written by @rustynet/dns-magic. resolv.conf has no port: the server listens on 53.\n' +
        'nameserver 100.64.0.1\nsearch rustynet\noptions timeout:1 edns0\n',
    );
    expect(() => renderResolvConf({ nameservers: ['dns.example'] }))
      .to.throw()
      .with.property('field', 'nameservers[0]');
    expect(() => renderResolvConf({ nameservers: [] }))
      .to.throw()
      .with.property('field', 'nameservers');
  });
  it('writes and removes <etc>/netns/<ns>/resolv.conf (in a temporary directory here)', async () => {
    const etc = await mkdtemp(join(tmpdir(), 'dns-magic-etc-'));
    try {
      const path = await installNetnsResolvConf('rnx1', 'nameserver 100.64.0.1\n', { etcNetnsDir: etc });
      expect(path).to.equal(join(etc, 'rnx1', 'resolv.conf'));
      expect(await readFile(path, 'utf8')).to.equal('nameserver 100.64.0.1\n');
      expect((await stat(path)).mode & 0o777).to.equal(0o644);
      await removeNetnsResolvConf('rnx1', { etcNetnsDir: etc });
      await removeNetnsResolvConf('rnx1', { etcNetnsDir: etc });
      expect(
        await stat(join(etc, 'rnx1')).then(
          () => true,
          () => false,
        ),
      ).to.equal(false);
      try {
        await installNetnsResolvConf('../evil', 'x', { etcNetnsDir: etc });
        expect.fail('accepted ../evil');
      } catch (err) {
        expect((err as { field?: string }).field).to.equal('netns');
      }
    } finally {
      await rm(etc, { recursive: true, force: true });
    }
  });
  it('builds resolvectl split-DNS commands', () => {
    expect(splitDnsCommands({ link: 'rn0', server: { host: '100.64.0.1', port: 53 }, zone: 'rustynet' })).to.deep.equal({
      apply: [
        ['resolvectl', ['dns', 'rn0', '100.64.0.1:53']],
        ['resolvectl', ['domain', 'rn0', '~rustynet']],
        ['resolvectl', ['default-route', 'rn0', 'false']],
      ],
      revert: [['resolvectl', ['revert', 'rn0']]],
    });
    expect(splitDnsCommands({ link: 'rn0', server: { host: 'fd00::1', port: 5353 }, zone: 'rustynet' }).apply[0]).to.deep.equal([
      'resolvectl',
      ['dns', 'rn0', '[fd00::1]:5353'],
    ]);
    expect(() => splitDnsCommands({ link: 'rn0; rm -rf /', server: { host: '100.64.0.1', port: 53 }, zone: 'r' }))
      .to.throw()
      .with.property('field', 'link');
  });
});
