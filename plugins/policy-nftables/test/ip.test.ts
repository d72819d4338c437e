import { expect } from 'chai';
import fc from 'fast-check';
import { formatIp, formatPrefix, normalizePrefixes, parseCidr, parseIp, prefixContains } from '../src/ip.js';

describe('ip', () => {
  it('parses and formats IPv4 and IPv6 (RFC 5952)', () => {
    expect(formatIp(4, parseIp('100.64.0.1')!.value)).to.equal('100.64.0.1');
    expect(formatIp(6, parseIp('FD00:0:0:0:0:0:0:1')!.value)).to.equal('fd00::1');
    expect(formatIp(6, parseIp('2001:db8:0:0:1:0:0:1')!.value)).to.equal('2001:db8::1:0:0:1');
    expect(formatIp(6, parseIp('::ffff:1.2.3.4')!.value)).to.equal('::ffff:102:304');
    expect(formatIp(6, parseIp('::')!.value)).to.equal('::');
    expect(parseIp('1.2.3')).to.equal(undefined);
    expect(parseIp('fe80::1%eth0')).to.equal(undefined);
  });

  it('IPv6 formatting agrees with the WHATWG URL serializer', () => {
    fc.assert(
      fc.property(fc.ipV6(), (text) => {
        const ip = parseIp(text);
        expect(ip, text).to.not.equal(undefined);
        const viaUrl = new URL(`http://[${text}]/`).hostname.slice(1, -1);
        expect(formatIp(6, ip!.value)).to.equal(viaUrl);
      }),
      { numRuns: 300 },
    );
  });

  it('IPv4 round-trips', () => {
    fc.assert(fc.property(fc.ipV4(), (text) => formatIp(4, parseIp(text)!.value) === text));
  });

  it('parses CIDRs, flags host bits, contains and normalises', () => {
    expect(parseCidr('10.1.2.3/8')).to.deep.include({ hostBitsSet: true, len: 8, addr: parseIp('10.0.0.0')!.value });
    expect(parseCidr('10.0.0.0/8')!.hostBitsSet).to.equal(false);
    expect(parseCidr('10.0.0.0/08')).to.equal(undefined);
    expect(parseCidr('fd00::/129')).to.equal(undefined);
    expect(parseCidr('10.0.0.1', true)!.len).to.equal(32);
    const p = parseCidr('fd00::/8')!;
    expect(prefixContains(p, 6, parseIp('fdff::1')!.value)).to.equal(true);
    expect(prefixContains(p, 6, parseIp('fe00::1')!.value)).to.equal(false);
    expect(prefixContains(p, 4, 1n)).to.equal(false);
    const norm = normalizePrefixes(['10.0.0.0/8', '10.1.0.0/16', '10.0.0.1', '11.0.0.0/8', '10.0.0.0/8'].map((s) => parseCidr(s, true)!));
    expect(norm.map(formatPrefix)).to.deep.equal(['10.0.0.0/8', '11.0.0.0/8']);
  });
});
