// Moved from plugins/policy-nftables/test/ip.test.ts with the code it tested (now plugin-kit's).
import { expect } from 'chai';
import fc from 'fast-check';
import { cidrContains, formatCidr, formatIp, normalizeCidrs, parseCidr, parseIp, type IpAddress, type ParsedCidr } from '../src/index.js';

function ip(text: string): IpAddress {
  const a = parseIp(text);
  if (!a) throw new Error(`test address ${text} did not parse`);
  return a;
}

function cidr(text: string): ParsedCidr {
  const p = parseCidr(text, { allowBare: true });
  if (!p) throw new Error(`test CIDR ${text} did not parse`);
  return p;
}

describe('plugin-kit: cidr formatting', () => {
  it('parses and formats IPv4 and IPv6 (RFC 5952)', () => {
    expect(formatIp(4, ip('100.64.0.1').value)).to.equal('100.64.0.1');
    expect(formatIp(6, ip('FD00:0:0:0:0:0:0:1').value)).to.equal('fd00::1');
    expect(formatIp(6, ip('2001:db8:0:0:1:0:0:1').value)).to.equal('2001:db8::1:0:0:1');
    expect(formatIp(6, ip('::ffff:1.2.3.4').value)).to.equal('::ffff:102:304');
    expect(formatIp(6, ip('::').value)).to.equal('::');
    expect(parseIp('1.2.3')).to.equal(undefined);
    expect(parseIp('fe80::1%eth0')).to.equal(undefined);
  });

  it('IPv6 formatting agrees with the WHATWG URL serializer', () => {
    fc.assert(
      fc.property(fc.ipV6(), (text) => {
        const a = parseIp(text);
        expect(a, text).to.not.equal(undefined);
        const viaUrl = new URL(`http://[${text}]/`).hostname.slice(1, -1);
        expect(a && formatIp(6, a.value)).to.equal(viaUrl);
      }),
      { numRuns: 300 },
    );
  });

  it('IPv4 round-trips', () => {
    fc.assert(fc.property(fc.ipV4(), (text) => formatIp(4, ip(text).value) === text));
  });

  it('parses CIDRs, flags host bits, contains and normalises', () => {
    expect(cidr('10.1.2.3/8')).to.deep.include({ hostBitsSet: true, prefixLength: 8, network: ip('10.0.0.0').value });
    expect(cidr('10.0.0.0/8').hostBitsSet).to.equal(false);
    expect(parseCidr('10.0.0.0/08')).to.equal(undefined);
    expect(parseCidr('fd00::/129')).to.equal(undefined);
    expect(cidr('10.0.0.1').prefixLength).to.equal(32);
    const p = cidr('fd00::/8');
    expect(cidrContains(p, ip('fdff::1'))).to.equal(true);
    expect(cidrContains(p, ip('fe00::1'))).to.equal(false);
    expect(cidrContains(p, { family: 4, value: 1n })).to.equal(false);
    const norm = normalizeCidrs(['10.0.0.0/8', '10.1.0.0/16', '10.0.0.1', '11.0.0.0/8', '10.0.0.0/8'].map(cidr));
    expect(norm.map((x) => formatCidr(x, { bareHost: true }))).to.deep.equal(['10.0.0.0/8', '11.0.0.0/8']);
    expect(formatCidr(cidr('10.0.0.1'), { bareHost: true })).to.equal('10.0.0.1');
    expect(formatCidr(cidr('10.0.0.1'))).to.equal('10.0.0.1/32');
  });
});
