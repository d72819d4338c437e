import { expect } from 'chai';
import { API_VERSION, SUPPORTED_API_VERSIONS, compareApiVersions, negotiateApiVersion } from '../src/index.js';

describe('plugin-api: API versions', () => {
  it('the current version is among the supported ones', () => {
    expect(SUPPORTED_API_VERSIONS).to.include(API_VERSION);
  });
  it('compares numerically, not as text', () => {
    expect(compareApiVersions('1.10', '1.9')).to.be.greaterThan(0);
    expect(compareApiVersions('2.0', '10.0')).to.be.lessThan(0);
    expect(compareApiVersions('1.0', '1.0')).to.equal(0);
  });
  it('rejects a malformed version', () => {
    expect(() => compareApiVersions('1', '1.0')).to.throw(TypeError, /MAJOR.MINOR/);
  });
  it('negotiates the highest common version', () => {
    expect(negotiateApiVersion(['1.0', '1.1', '2.0'], ['0.9', '1.1', '1.0'])).to.equal('1.1');
    expect(negotiateApiVersion(['1.0'], ['2.0', '3.1'])).to.equal(undefined);
    expect(negotiateApiVersion(['1.0'], ['garbage', '1.0'])).to.equal('1.0');
  });
});
