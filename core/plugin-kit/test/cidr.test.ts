import { expect } from 'chai';
import fc from 'fast-check';
import {
  CidrSet,
  canonicalCidr,
  cidrAddress,
  cidrContains,
  cidrProblem,
  cidrsOverlap,
  formatCidr,
  formatIp,
  hostBitsZero,
  isHostPrefix,
  isIp,
  isIPv4Mapped,
  makeCidr,
  normalizeCidrs,
  parseCidr,
  parseIp,
  unmapIPv4,
  type ParsedCidr,
} from '../src/index.js';

function cidr(text: string): ParsedCidr {
  const p = parseCidr(text, { allowBare: true });
  if (!p) throw new Error(`test CIDR ${text} did not parse`);
  return p;
}

describe('plugin-kit: cidr', () => {
  it('parses IPv4 and IPv6 prefixes', () => {
    const a = cidr('10.1.2.3/8');
    expect(a).to.include({
      family: 4,
      bits: 32,
      prefixLength: 8,
      hostBitsSet: true,
      address: 0x0a010203n,
      network: 0x0a000000n,
      key: '10.1.2.3/8',
    });
    const b = cidr('FD00:0::1/128');
    expect(b).to.include({ family: 6, bits: 128, prefixLength: 128, hostBitsSet: false, key: 'fd00::1/128' });
    expect(cidr('::ffff:1.2.3.4/128').address).to.equal(0xffff01020304n);
    expect(cidr('::1.2.3.4/128').address).to.equal(0x01020304n);
    expect(cidr('64:ff9b::1.2.3.4/128').address).to.equal(0x0064ff9b000000000000000001020304n);
    expect(cidr('1:2:3:4:5:6:1.2.3.4/128').address).to.equal(0x00010002000300040005000601020304n);
  });

  it('rejects malformed text', () => {
    for (const bad of [
      '10.0.0.0',
      '10.0.0.0/33',
      '010.0.0.0/8',
      '10.0.0/8',
      'fe80::1%eth0/64',
      '[fd00::1]/128',
      '10.0.0.0/08',
      '10.0.0.0/-1',
      '10.0.0.0/8/8',
      'fd00::/129',
      ' 10.0.0.0/8',
      '',
      'x/1',
    ]) {
      expect(parseCidr(bad), bad).to.equal(undefined);
    }
    expect(parseCidr(42)).to.equal(undefined);
    expect(parseCidr('10.0.0.1', { allowBare: true })?.prefixLength).to.equal(32);
  });

  it('explains rejections', () => {
    expect(cidrProblem(5)).to.equal('must be a CIDR string');
    expect(cidrProblem('10.0.0.1')).to.match(/not in CIDR notation/);
    expect(cidrProblem('10.0.0.1/x')).to.match(/malformed prefix length/);
    expect(cidrProblem('nope/8')).to.match(/does not hold an IPv4 or IPv6 address/);
    expect(cidrProblem('10.0.0.1/40')).to.match(/longer than 32 bits/);
    expect(cidrProblem('10.0.0.1/8', { requireZeroHostBits: true })).to.match(/host bits set/);
    expect(cidrProblem('10.0.0.0/8', { requireZeroHostBits: true })).to.equal(undefined);
  });

  it('parses addresses, and detects IPv4-mapped ones', () => {
    expect(parseIp('192.0.2.1')).to.deep.equal({ family: 4, value: 0xc0000201n, text: '192.0.2.1' });
    expect(parseIp('2001:DB8::1')?.text).to.equal('2001:db8::1');
    expect(isIp('1.2.3')).to.equal(false);
    expect(isIp(null)).to.equal(false);
    const mapped = parseIp('::ffff:192.0.2.1');
    expect(mapped && isIPv4Mapped(mapped)).to.equal(true);
    expect(mapped && unmapIPv4(mapped)).to.deep.equal(parseIp('192.0.2.1'));
    const plain = parseIp('fd00::1');
    expect(plain && isIPv4Mapped(plain)).to.equal(false);
  });

  it('contains and overlaps', () => {
    expect(cidrContains(cidr('10.0.0.0/8'), cidr('10.1.0.0/16'))).to.equal(true);
    expect(cidrContains(cidr('10.1.0.0/16'), cidr('10.0.0.0/8'))).to.equal(false);
    expect(cidrContains(cidr('0.0.0.0/0'), cidr('::/0'))).to.equal(false);
    const ip = parseIp('10.9.9.9');
    expect(ip && cidrContains(cidr('10.0.0.0/8'), ip)).to.equal(true);
    expect(cidrsOverlap(cidr('10.1.0.0/16'), cidr('10.0.0.0/8'))).to.equal(true);
    expect(cidrsOverlap(cidr('10.1.0.0/16'), cidr('10.2.0.0/16'))).to.equal(false);
  });

  it('formats canonically, host prefixes bare on request', () => {
    expect(formatCidr(cidr('10.1.2.3/8'))).to.equal('10.0.0.0/8');
    expect(formatCidr(cidr('10.1.2.3/32'), { bareHost: true })).to.equal('10.1.2.3');
    expect(canonicalCidr('FD00:0:0::1/8')).to.equal('fd00::/8');
    expect(formatIp(6, 0x20010db8000000000001000000000001n)).to.equal('2001:db8::1:0:0:1');
    expect(cidrAddress('100.64.0.1/32')).to.equal('100.64.0.1');
    expect(hostBitsZero(cidr('10.0.0.0/8'))).to.equal(true);
    expect(isHostPrefix(cidr('fd00::1/128'))).to.equal(true);
  });

  it('normalizes: sorted, no prefix inside another', () => {
    const out = normalizeCidrs([cidr('10.1.0.0/16'), cidr('fd00::/8'), cidr('10.0.0.0/8'), cidr('9.0.0.0/8'), cidr('10.0.0.0/8')]);
    expect(out.map((p) => formatCidr(p))).to.deep.equal(['9.0.0.0/8', '10.0.0.0/8', 'fd00::/8']);
  });

  it('CidrSet answers membership, IPv4-mapped included', () => {
    const set = new CidrSet([cidr('10.0.0.0/8'), cidr('fd00::/8')]);
    expect(set.size).to.equal(2);
    expect(set.has('10.2.3.4')).to.equal(true);
    expect(set.has('::ffff:10.2.3.4')).to.equal(true);
    expect(set.has('fd12::1')).to.equal(true);
    expect(set.has('11.0.0.1')).to.equal(false);
    expect(set.has('garbage')).to.equal(false);
  });

  it('makeCidr rejects what does not fit', () => {
    expect(() => makeCidr(4, 1n, 33)).to.throw(RangeError);
    expect(() => makeCidr(4, 1n << 32n, 8)).to.throw(RangeError);
  });

  describe('properties', () => {
    const v4 = fc.tuple(fc.bigInt({ min: 0n, max: (1n << 32n) - 1n }), fc.integer({ min: 0, max: 32 })).map(([a, l]) => makeCidr(4, a, l));
    const v6 = fc
      .tuple(fc.bigInt({ min: 0n, max: (1n << 128n) - 1n }), fc.integer({ min: 0, max: 128 }))
      .map(([a, l]) => makeCidr(6, a, l));
    const any = fc.oneof(v4, v6);

    it('format then parse gives the same prefix (round trip)', () => {
      fc.assert(
        fc.property(any, (p) => {
          const again = parseCidr(p.key);
          expect(again).to.deep.equal(p);
          const net = parseCidr(formatCidr(p));
          expect(net?.network).to.equal(p.network);
          expect(net?.hostBitsSet).to.equal(false);
        }),
      );
    });

    it('a prefix contains its own network and every longer prefix of it', () => {
      fc.assert(
        fc.property(any, fc.nat(128), (p, extra) => {
          const longer = makeCidr(p.family, p.address, Math.min(p.bits, p.prefixLength + extra));
          expect(cidrContains(p, longer)).to.equal(true);
          expect(cidrsOverlap(longer, p)).to.equal(true);
        }),
      );
    });

    it('agrees with node:net BlockList on membership', () => {
      fc.assert(
        fc.property(v4, fc.bigInt({ min: 0n, max: (1n << 32n) - 1n }), (p, a) => {
          const ip = { family: 4 as const, value: a, text: formatIp(4, a) };
          expect(new CidrSet([p]).has(ip)).to.equal(cidrContains(p, ip));
        }),
      );
    });

    it('normalized prefixes never overlap', () => {
      fc.assert(
        fc.property(fc.array(v4, { maxLength: 20 }), (list) => {
          const out = normalizeCidrs(list);
          for (let i = 0; i < out.length; i++)
            for (let j = i + 1; j < out.length; j++) expect(cidrsOverlap(out[i], out[j])).to.equal(false);
          for (const p of list) expect(out.some((o) => cidrContains(o, p))).to.equal(true);
        }),
      );
    });
  });
});
