import { expect } from 'chai';
import { hostAddresses, parseDuration, parseListen, isLoopback } from '../src/index.js';
import { findDuplicateKey } from '../src/server/duplicate-keys.js';

describe('control: small parsers', () => {
  it('parses durations', () => {
    expect(parseDuration('1h')).to.equal(3_600_000);
    expect(parseDuration('1h30m')).to.equal(5_400_000);
    expect(parseDuration('500ms')).to.equal(500);
    expect(parseDuration('90')).to.equal(90_000);
    for (const bad of ['', '0', '1x', 'h', '1h 2m', '-1s']) expect(() => parseDuration(bad), bad).to.throw(/not a duration/);
  });
  it('parses listen addresses and tells loopback apart', () => {
    expect(parseListen('127.0.0.1:4242')).to.deep.equal({ host: '127.0.0.1', port: 4242 });
    expect(parseListen('[::1]:0')).to.deep.equal({ host: '::1', port: 0 });
    expect(() => parseListen('4242')).to.throw(/host:port/);
    expect(isLoopback('127.0.0.5')).to.equal(true);
    expect(isLoopback('::1')).to.equal(true);
    expect(isLoopback('0.0.0.0')).to.equal(false);
    expect(isLoopback('198.18.0.1')).to.equal(false);
  });
  it('maps host indexes into 100.64.0.0/10 and the ULA /48', () => {
    expect(hostAddresses('fd12:3456:789a::', 1)).to.deep.equal({ ipv4: '100.64.0.1', ipv6: 'fd12:3456:789a::1' });
    expect(hostAddresses('fd12:3456:789a::', 65537)).to.deep.equal({ ipv4: '100.65.0.1', ipv6: 'fd12:3456:789a::1:1' });
    expect(hostAddresses('fd12:3456:789a::', 2 ** 22 - 2).ipv4).to.equal('100.127.255.254');
    expect(() => hostAddresses('fd12:3456:789a::', 2 ** 22)).to.throw(/exhausted/);
    expect(() => hostAddresses('2001:db8::', 1)).to.throw(/fd00::\/8/);
  });
  it('finds duplicate JSON member names, at any depth, and nothing else', () => {
    expect(findDuplicateKey('{"a":1,"b":{"a":2},"c":[{"a":1},{"a":2}]}')).to.equal(undefined);
    expect(findDuplicateKey('{"a":1,"a":2}')).to.equal('a');
    expect(findDuplicateKey('{"x":{"k\\"":1,"k\\u0022":2}}')).to.equal('k"');
    expect(findDuplicateKey('[{"s":"a,\\"b\\":1"},{"t":["{\\"u\\":1}"],"t2":1}]')).to.equal(undefined);
    expect(findDuplicateKey('"plain"')).to.equal(undefined);
  });
});
