import { expect } from 'chai';
import fc from 'fast-check';
import {
  deviceName,
  DEFAULT_PORT_SPAN,
  formatFingerprint,
  isFingerprint,
  isProxyEndpoint,
  localPort,
  MAX_PREFIX_LENGTH,
  portOffset,
  remotePort,
  sendPort,
  tlsRole,
  CAPABILITIES,
} from '../src/rules.js';
import { cidrContains, cidrProblem, makeCidr, parseCidr, parseIp } from '@rustynet/plugin-kit';

const ipv4ToBigInt = (ip: string): bigint => parseIp(ip)?.value ?? -1n;
const ipv6ToBigInt = (ip: string): bigint => parseIp(ip)?.value ?? -1n;

const nodeId = fc.stringMatching(/^[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?$/);

describe('rules: roles, ports, device names, fingerprints', () => {
  it('gives exactly one side of every pair the TLS server role (lower id)', () => {
    fc.assert(
      fc.property(nodeId, nodeId, (x, y) => {
        fc.pre(x !== y);
        const rx = tlsRole(x, y);
        const ry = tlsRole(y, x);
        expect(rx).to.not.equal(ry);
        expect(rx === 'tls-server').to.equal(x < y);
      }),
    );
    expect(tlsRole('a', 'b')).to.equal('tls-server');
    expect(tlsRole('node-10', 'node-9')).to.equal('tls-server');
  });

  it('lets both sides derive the same port pair from netmap data only', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 60000 }),
        fc.integer({ min: 1, max: 60000 }),
        fc.nat(0xffffffff),
        fc.nat(0xffffffff),
        (baseA, baseB, ipA, ipB) => {
          const a = BigInt(ipA);
          const b = BigInt(ipB);
          // A's instance for B binds what B sends to, and vice versa.
          expect(localPort(baseA, b, DEFAULT_PORT_SPAN)).to.equal(remotePort(baseA, b, DEFAULT_PORT_SPAN));
          expect(localPort(baseB, a, DEFAULT_PORT_SPAN)).to.equal(remotePort(baseB, a, DEFAULT_PORT_SPAN));
          expect(localPort(baseA, b, DEFAULT_PORT_SPAN) - baseA).to.be.within(0, DEFAULT_PORT_SPAN - 1);
        },
      ),
    );
    // Digits of 100.64.0.1 in base 1024: 1, 0, 580, 1 -> 582.
    expect(portOffset(ipv4ToBigInt('100.64.0.1'), 1024)).to.equal(582);
    expect(portOffset(ipv4ToBigInt('100.64.3.255'), 1024)).to.equal((1023 + 580 + 1) % 1024);
    expect(portOffset(ipv4ToBigInt('100.64.0.1'), 1024)).to.not.equal(portOffset(ipv4ToBigInt('100.65.0.1'), 1024));
    expect(localPort(51000, ipv4ToBigInt('100.64.0.7'), 1024)).to.equal(51000 + 588);
    expect(portOffset(0n, 1024)).to.equal(0);
  });

  it('gives distinct offsets to every address of an aligned block of portSpan addresses', () => {
    for (const span of [128, 1024, 16384]) {
      fc.assert(
        fc.property(fc.nat(0xffffffff), (ip) => {
          const start = BigInt(ip) & ~BigInt(span - 1);
          const seen = new Set<number>();
          for (let i = 0; i < span; i++) seen.add(portOffset(start + BigInt(i), span));
          expect(seen.size).to.equal(span);
        }),
        { numRuns: 5 },
      );
    }
  });

  it('treats loopback endpoints (local proxies) literally and netmap endpoints by the port rule', () => {
    for (const h of ['127.0.0.1', '127.1.2.3', '::1', '0:0:0:0:0:0:0:1', '::ffff:127.0.0.1']) expect(isProxyEndpoint(h), h).to.equal(true);
    for (const h of ['198.18.0.1', '128.0.0.1', '::', '::2', 'fd00::1', '::ffff:198.18.0.1', 'localhost', ''])
      expect(isProxyEndpoint(h), h).to.equal(false);
    const self = 0x64400002n; // 100.64.0.2
    expect(sendPort({ host: '127.0.0.1', port: 40000 }, self, DEFAULT_PORT_SPAN)).to.equal(40000);
    expect(sendPort({ host: '198.18.0.1', port: 51000 }, self, DEFAULT_PORT_SPAN)).to.equal(remotePort(51000, self, DEFAULT_PORT_SPAN));
  });

  it('keeps device names within IFNAMSIZ - 1 for the longest prefix and index', () => {
    const longest = 'x'.repeat(MAX_PREFIX_LENGTH);
    expect(deviceName(longest, CAPABILITIES.maxPeers - 1).length).to.be.at.most(15);
    expect(deviceName('rn0', 7)).to.equal('rn0p7');
  });

  it('formats and recognises SHA-256 fingerprints', () => {
    const fp = formatFingerprint(new Uint8Array(32).map((_, i) => i * 8));
    expect(isFingerprint(fp)).to.equal(true);
    expect(fp.slice(0, 8)).to.equal('00:08:10');
    expect(isFingerprint(fp.toLowerCase())).to.equal(false);
    expect(isFingerprint(fp.slice(3))).to.equal(false);
    expect(isFingerprint(42)).to.equal(false);
  });
});

describe('ip: CIDR parsing (plugin-kit, as this backend uses it)', () => {
  it('parses IPv4 and IPv6 prefixes and checks host bits', () => {
    expect(cidrProblem('10.1.0.0/16', { requireZeroHostBits: true })).to.equal(undefined);
    expect(parseCidr('10.1.0.0/16')).to.deep.include({ family: 4, prefixLength: 16, address: ipv4ToBigInt('10.1.0.0') });
    expect(cidrProblem('10.1.0.1/16', { requireZeroHostBits: true })).to.be.a('string');
    expect(cidrProblem('10.1.0.1/16', { requireZeroHostBits: false })).to.equal(undefined);
    expect(parseCidr('10.1.0.1/16')).to.be.an('object');
    expect(cidrProblem('fd00::/8', { requireZeroHostBits: true })).to.equal(undefined);
    expect(parseCidr('fd00::/8')).to.deep.include({ family: 6, prefixLength: 8 });
    expect(cidrProblem('fd00::1/8', { requireZeroHostBits: true })).to.be.a('string');
    for (const bad of ['10.0.0.0', '10.0.0.0/33', '300.0.0.0/8', 'fd00::/129', 'x/1', '10.0.0.0/08', '', 5, 'fe80::1%eth0/64']) {
      expect(cidrProblem(bad, { requireZeroHostBits: false }), String(bad)).to.be.a('string');
      expect(parseCidr(bad), String(bad)).to.equal(undefined);
    }
  });

  it('converts IPv6 text forms to the same integer', () => {
    expect(ipv6ToBigInt('::')).to.equal(0n);
    expect(ipv6ToBigInt('::1')).to.equal(1n);
    expect(ipv6ToBigInt('fd00::1')).to.equal(ipv6ToBigInt('fd00:0:0:0:0:0:0:1'));
    expect(ipv6ToBigInt('::ffff:1.2.3.4')).to.equal((0xffffn << 32n) | ipv4ToBigInt('1.2.3.4'));
  });

  it('tests containment', () => {
    const net = parseCidr('198.18.0.0/15');
    if (!net) throw new Error('198.18.0.0/15 did not parse');
    expect(cidrContains(net, makeCidr(4, ipv4ToBigInt('198.19.255.1'), 32))).to.equal(true);
    expect(cidrContains(net, makeCidr(4, ipv4ToBigInt('198.20.0.1'), 32))).to.equal(false);
    expect(cidrContains(net, makeCidr(6, 1n, 128))).to.equal(false);
  });
});
