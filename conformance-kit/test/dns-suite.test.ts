import { expect } from 'chai';
import { dnsTests, malformedMessages, parseDig } from '../src/suites/dns/index.js';
import { itCoversAreas, itHasWellFormedIds, itIsDocumented, itIsRegistered } from './helpers/suite-definition.js';

const NOERROR = `
; <<>> DiG 9.18.41-1~deb12u1-Debian <<>> @198.18.0.1 -p 5300 +norecurse b.rustynet A
;; global options: +cmd
;; Got answer:
;; ->>HEADER<<- opcode: QUERY, status: NOERROR, id: 4242
;; flags: qr aa; QUERY: 1, ANSWER: 2, AUTHORITY: 0, ADDITIONAL: 1

;; OPT PSEUDOSECTION:
; EDNS: version: 0, flags:; udp: 1232
;; QUESTION SECTION:
;b.rustynet.			IN	A

;; ANSWER SECTION:
b.rustynet.		60	IN	A	100.64.0.2
b.rustynet.		60	IN	A	100.64.0.12

;; Query time: 0 msec
`;
const NXDOMAIN = `
;; ->>HEADER<<- opcode: QUERY, status: NXDOMAIN, id: 7
;; flags: qr aa; QUERY: 1, ANSWER: 0, AUTHORITY: 1, ADDITIONAL: 1

;; AUTHORITY SECTION:
rustynet.		60	IN	SOA	rustynet. hostmaster.rustynet. 1763920000 3600 600 86400 60
`;
const TIMEOUT = `
; <<>> DiG 9.18.41-1~deb12u1-Debian <<>> @198.18.0.3 -p 5301 b.rustynet A
;; global options: +cmd
;; connection timed out; no servers could be reached
`;

describe('dns suite definition (unit)', () => {
  itHasWellFormedIds('dns', dnsTests);
  itCoversAreas('covers every area the issue names', dnsTests, [
    'manifest',
    'records',
    'transport',
    'update',
    'robustness',
    'state',
    'teardown',
  ]);
  itIsRegistered('dns');

  it('parseDig reads status, flags and sections; null when no server answered', () => {
    const r = parseDig(NOERROR)!;
    expect(r.status).to.equal('NOERROR');
    expect(r.flags).to.deep.equal(['qr', 'aa']);
    expect(r.answers.map((a) => [a.name, a.ttl, a.type, a.data])).to.deep.equal([
      ['b.rustynet.', 60, 'A', '100.64.0.2'],
      ['b.rustynet.', 60, 'A', '100.64.0.12'],
    ]);
    const n = parseDig(NXDOMAIN)!;
    expect(n.status).to.equal('NXDOMAIN');
    expect(n.answers).to.deep.equal([]);
    expect(n.authority[0]?.type).to.equal('SOA');
    expect(parseDig(TIMEOUT)).to.equal(null);
  });

  it('malformed messages are reproducible from the seed and include the classic parser traps', () => {
    const a = malformedMessages(42);
    const b = malformedMessages(42);
    expect(a.map((m) => m.bytes.toString('hex'))).to.deep.equal(b.map((m) => m.bytes.toString('hex')));
    expect(a.some((m) => m.bytes.length < 12)).to.equal(true);
    expect(a.some((m) => m.what.includes('compression pointer'))).to.equal(true);
  });

  itIsDocumented('docs/conformance.md documents every test id', dnsTests);
});
