import { expect } from 'chai';
import { negotiatedCipher } from '../src/instance.js';

describe('negotiatedCipher (unit)', () => {
  it('reads the last data-channel cipher OpenVPN 2.6 logged', () => {
    const log = [
      'Control Channel: TLSv1.3, cipher TLSv1.3 TLS_AES_256_GCM_SHA384, peer certificate: 256 bits ECsecp256r1',
      "Outgoing Data Channel: Cipher 'AES-256-GCM' initialized with 256 bit key",
      "Incoming Data Channel: Cipher 'AES-256-GCM' initialized with 256 bit key",
      "Outgoing Data Channel: Cipher 'CHACHA20-POLY1305' initialized with 256 bit key",
    ].join('\n');
    expect(negotiatedCipher(log)).to.equal('CHACHA20-POLY1305');
    expect(negotiatedCipher("Data Channel: cipher 'AES-128-GCM', peer-id: 0")).to.equal('AES-128-GCM');
  });

  it('is undefined before a data channel exists (the control channel cipher does not count)', () => {
    expect(negotiatedCipher('Control Channel: TLSv1.3, cipher TLSv1.3 TLS_AES_256_GCM_SHA384')).to.equal(undefined);
  });
});
