import { expect } from 'chai';
import { compileRuleset, deleteTableScript, ruleLines } from '../src/compile.js';
import { DEFAULT_OPTIONS } from '../src/options.js';
import { resolvePolicy } from '../src/resolve.js';
import { clone, sampleInput } from './fixtures.js';

const GOLDEN = `# @rustynet/policy-nftables: 5 ACL rule(s) for node a. Generated; do not edit.
table inet rustynet_policy
delete table inet rustynet_policy
table inet rustynet_policy {
\tcounter r_0 { comment "ssh" }
\tcounter r_1 { comment "web" }
\tcounter r_2 { comment "no-dev" }
\tcounter r_3 { comment "ping" }
\tcounter r_4 { comment "dns" }
\tcounter default_drop { comment "default deny" }
\tchain input {
\t\ttype filter hook input priority filter - 10; policy accept;
\t\tiifname "rn0" jump acl
\t\tip saddr { 100.64.0.2, 100.64.0.3, 100.64.0.4 } drop comment "mesh source off the mesh"
\t\tip6 saddr { fd00::2, fd00::4 } drop comment "mesh source off the mesh"
\t}
\tchain forward {
\t\ttype filter hook forward priority filter - 10; policy accept;
\t\tiifname "rn0" jump acl
\t\tip saddr { 100.64.0.2, 100.64.0.3, 100.64.0.4 } drop comment "mesh source off the mesh"
\t\tip6 saddr { fd00::2, fd00::4 } drop comment "mesh source off the mesh"
\t}
\tchain acl {
\t\tct state established,related accept
\t\ticmpv6 type { nd-neighbor-solicit, nd-neighbor-advert } accept
\t\tct state invalid drop
\t\tip saddr { 100.64.0.2, 100.64.0.4 } ip daddr { 100.64.0.1, 100.64.0.4 } tcp dport 22 counter name "r_0" accept comment "ssh"
\t\tip6 saddr { fd00::2, fd00::4 } ip6 daddr { fd00::1, fd00::4 } tcp dport 22 counter name "r_0" accept comment "ssh"
\t\tip daddr 100.64.0.1 tcp dport { 443, 8000-8080 } counter name "r_1" accept comment "web"
\t\tip6 daddr fd00::1 tcp dport { 443, 8000-8080 } counter name "r_1" accept comment "web"
\t\tip saddr 100.64.0.3 counter name "r_2" drop comment "no-dev"
\t\tmeta l4proto { icmp, ipv6-icmp } counter name "r_3" accept comment "ping"
\t\tip saddr 100.64.0.0/10 ip daddr 100.64.0.1 udp dport 53 counter name "r_4" accept comment "dns"
\t\tip6 saddr fd00::/8 ip6 daddr fd00::1 udp dport 53 counter name "r_4" accept comment "dns"
\t\tcounter name "default_drop" drop comment "default deny"
\t}
}
`;

describe('compiler', () => {
  it('renders the sample policy exactly (golden)', () => {
    expect(compileRuleset(resolvePolicy(sampleInput()), DEFAULT_OPTIONS)).to.equal(GOLDEN);
  });

  it('is one transaction that replaces only its own table', () => {
    const text = compileRuleset(resolvePolicy(sampleInput()), { ...DEFAULT_OPTIONS, table: 'mine' });
    const tableRefs = [...text.matchAll(/\btable\s+(\w+)\s+(\w+)/g)].map((m) => `${m[1]} ${m[2]}`);
    expect(new Set(tableRefs)).to.deep.equal(new Set(['inet mine']));
    const lines = text.split('\n');
    expect(lines.slice(1, 4)).to.deep.equal(['table inet mine', 'delete table inet mine', 'table inet mine {']);
    expect(text).not.to.match(/flush ruleset|\bruleset\b/);
  });

  it('ends every mesh path in a counted default drop, and keeps non-mesh traffic out', () => {
    const text = compileRuleset(resolvePolicy({ ...sampleInput(), acl: { rules: [] } }), DEFAULT_OPTIONS);
    const acl = text.slice(text.indexOf('chain acl {'));
    expect(
      acl
        .trim()
        .split('\n')
        .map((l) => l.trim()),
    ).to.deep.equal([
      'chain acl {',
      'ct state established,related accept',
      'icmpv6 type { nd-neighbor-solicit, nd-neighbor-advert } accept',
      'ct state invalid drop',
      'counter name "default_drop" drop comment "default deny"',
      '}',
      '}',
    ]);
    // base chains accept by policy: only iifname-matched packets enter the ACL
    expect(text.match(/policy accept;/g)).to.have.length(2);
    expect(text.match(/iifname "rn0" jump acl/g)).to.have.length(2);
    expect(compileRuleset(resolvePolicy(sampleInput()), { ...DEFAULT_OPTIONS, dropSpoofed: false })).not.to.include(
      'mesh source off the mesh',
    );
  });

  it('honours options: priority, no forward chain, no ND, no invalid drop', () => {
    const text = compileRuleset(resolvePolicy(sampleInput()), {
      ...DEFAULT_OPTIONS,
      priority: 5,
      filterForward: false,
      allowNeighborDiscovery: false,
      dropInvalid: false,
    });
    expect(text).to.include('type filter hook input priority filter + 5; policy accept;');
    expect(text).not.to.include('hook forward');
    expect(text).not.to.include('nd-neighbor');
    expect(text).not.to.include('invalid');
    const zero = compileRuleset(resolvePolicy(sampleInput()), { ...DEFAULT_OPTIONS, priority: 0 });
    expect(zero).to.include('priority filter; policy accept;');
  });

  it('puts several interfaces (and wildcards) in one anonymous set', () => {
    const i = clone(sampleInput());
    i.interfaces = ['rn0', 'tun*'];
    expect(compileRuleset(resolvePolicy(i), DEFAULT_OPTIONS)).to.include('iifname { "rn0", "tun*" } jump acl');
  });

  it('splits families, merges ports and prefixes, and maps icmp per family', () => {
    const i = clone(sampleInput());
    i.acl.rules = [
      {
        id: 'x',
        action: 'accept',
        src: ['100.64.0.0/24', '100.64.0.2', 'b', '100.64.1.0/24'],
        dst: ['c'],
        proto: 'udp',
        ports: [5, '1-3', 4, '10-20', 15],
      },
      { id: 'y', action: 'drop', src: ['fd00::/64'], dst: ['tag:web'], proto: 'icmp' },
      { id: 'z', action: 'accept', src: ['c'], dst: ['fd00::1'], proto: 'tcp' },
      { id: 'w', action: 'accept', src: ['*'], dst: ['*'], proto: 'any' },
    ];
    const p = resolvePolicy(i);
    expect(ruleLines(p.rules[0])).to.deep.equal([
      'ip saddr { 100.64.0.0/24, 100.64.1.0/24 } ip daddr 100.64.0.3 udp dport { 1-5, 10-20 } counter name "r_0" accept comment "x"',
    ]);
    expect(ruleLines(p.rules[1])).to.deep.equal([
      'ip6 saddr fd00::/64 ip6 daddr { fd00::1, fd00::4 } meta l4proto ipv6-icmp counter name "r_1" drop comment "y"',
    ]);
    expect(ruleLines(p.rules[2])).to.deep.equal([]);
    expect(compileRuleset(p, DEFAULT_OPTIONS)).to.include('# rule z (#2): src and dst share no address family; never matches');
    expect(ruleLines(p.rules[3])).to.deep.equal(['counter name "r_3" accept comment "w"']);
  });

  it('deletes its table idempotently in one transaction', () => {
    expect(deleteTableScript('rustynet_policy')).to.equal('table inet rustynet_policy\ndelete table inet rustynet_policy\n');
  });
});
