import { expect } from 'chai';
import { parseDumpEndpoint, parseWgDump } from '../src/wg-dump.js';
import { caught } from './support/keys.js';

const PRIV = 'SBnmNVco9hoB8qLVFVT84ShLKeux/Dg3KOCYRJCmO2U=';
const PUB = 'Xzi+XBE2JeUDNvxQc/0FqGWEhv0LWXpRCr0TN4Ei4RM=';
const P1 = 'xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=';
const P2 = 'TrMvSoP4jYQlY6RIzBgbssQqY3vxI2Pi+y71lOWWXX0=';
const P3 = 'gN65BkIKy1eCE9pP1wdc8ROUtkHLF2PfAqYdyYBz6EA=';

const sample = [
  [PRIV, PUB, '51820', 'off'].join('\t'),
  [P1, '(none)', '198.18.3.2:51821', '100.64.0.2/32,fd7a::2/128', '1700000000', '1234', '5678', '25'].join('\t'),
  [P2, '(none)', '[fd00::9]:4000', '(none)', '0', '0', '0', 'off'].join('\t'),
  [P3, '(none)', '(none)', '10.0.0.0/8', '0', '0', '148', 'off'].join('\t'),
  '',
].join('\n');

describe('wg show dump parser', () => {
  it('parses interface and peer lines', () => {
    const d = parseWgDump(sample);
    expect(d.publicKey).to.equal(PUB);
    expect(d.listenPort).to.equal(51820);
    expect(d.fwmark).to.equal(null);
    expect(d.peers).to.deep.equal([
      {
        publicKey: P1,
        endpoint: { host: '198.18.3.2', port: 51821 },
        allowedIps: ['100.64.0.2/32', 'fd7a::2/128'],
        latestHandshake: 1700000000,
        rxBytes: 1234,
        txBytes: 5678,
        persistentKeepalive: 25,
      },
      {
        publicKey: P2,
        endpoint: { host: 'fd00::9', port: 4000 },
        allowedIps: [],
        latestHandshake: null,
        rxBytes: 0,
        txBytes: 0,
        persistentKeepalive: null,
      },
      {
        publicKey: P3,
        endpoint: null,
        allowedIps: ['10.0.0.0/8'],
        latestHandshake: null,
        rxBytes: 0,
        txBytes: 148,
        persistentKeepalive: null,
      },
    ]);
  });
  it('never returns the private key', () => {
    expect(JSON.stringify(parseWgDump(sample))).not.to.include(PRIV);
  });
  it('parses an interface without peers and a hex fwmark', () => {
    const d = parseWgDump(`(none)\t(none)\t0\t0xca6c\n`);
    expect(d).to.deep.equal({ publicKey: null, listenPort: 0, fwmark: 0xca6c, peers: [] });
  });
  it('rejects malformed output with BACKEND_FAILED', async () => {
    for (const bad of ['', 'a\tb\tc', `${sample}x\ty\n`, [PRIV, PUB, 'port', 'off'].join('\t')]) {
      expect((await caught(() => parseWgDump(bad))).code, JSON.stringify(bad)).to.equal('BACKEND_FAILED');
    }
  });
  it('parses endpoints', () => {
    expect(parseDumpEndpoint('[fe80::1%eth0]:51820')).to.deep.equal({ host: 'fe80::1', port: 51820 });
    expect(parseDumpEndpoint('(none)')).to.equal(null);
  });
});
