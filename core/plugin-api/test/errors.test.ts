import { expect } from 'chai';
import { ErrorCodes, RustynetError, invalidInput, isRustynetError } from '../src/index.js';

describe('plugin-api: errors', () => {
  it('every code has a distinct stable number', () => {
    const numbers = Object.values(ErrorCodes);
    expect(new Set(numbers).size).to.equal(numbers.length);
  });
  it('carries code, errno, field and details, and serialises them', () => {
    const e = new RustynetError('UNKNOWN_PEER', 'no such peer: x', { field: 'remove[0]', details: { id: 'x' } });
    expect(e.errno).to.equal(21);
    expect(e.toJSON()).to.deep.include({ code: 'UNKNOWN_PEER', field: 'remove[0]', message: 'no such peer: x' });
  });
  it('is recognised across package copies by shape, not by instanceof', () => {
    const foreign = { name: 'RustynetError', code: 'NOT_RUNNING', message: 'x' };
    expect(isRustynetError(foreign, 'NOT_RUNNING')).to.equal(true);
    expect(isRustynetError(foreign, 'ALREADY_RUNNING')).to.equal(false);
    expect(isRustynetError({ name: 'RustynetError', code: 'NO_SUCH_CODE' })).to.equal(false);
    expect(isRustynetError(new Error('plain'))).to.equal(false);
  });
  it('invalidInput names the field in the message', () => {
    const e = invalidInput('upsert[2].allowedIps[0]', 'not a CIDR: 10.0.0.300/8');
    expect(e.code).to.equal('INVALID_INPUT');
    expect(e.message).to.match(/^upsert\[2\]\.allowedIps\[0\]: /);
  });
});
