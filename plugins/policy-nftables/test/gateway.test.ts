import { expect } from 'chai';
import { compileRuleset, interfaceSet } from '../src/compile.js';
import { connectedPrefixes, FORWARD_MARKER, gatewayRules, hasForwardMarker, KILL_COUNTER, validateGateway } from '../src/gateway.js';
import { DEFAULT_OPTIONS } from '../src/options.js';
import { resolvePolicy } from '../src/resolve.js';
import { clone, sampleInput } from './fixtures.js';

function compiled(gw: Parameters<typeof gatewayRules>[0], lan: string[] = [], owned = false): string {
  const policy = resolvePolicy(clone(sampleInput()));
  return compileRuleset(policy, DEFAULT_OPTIONS, gatewayRules(gw, interfaceSet(policy), lan, owned));
}

describe('policy-nftables gateway (exit node, kill switch)', () => {
  it('adds nothing without a gateway input', () => {
    const policy = resolvePolicy(clone(sampleInput()));
    expect(compileRuleset(policy, DEFAULT_OPTIONS, gatewayRules(undefined, '"rn0"', [], false))).to.equal(compileRuleset(policy, DEFAULT_OPTIONS));
  });

  it('serve: forwards and masquerades only mesh sources leaving the mesh, before the ACL jump', () => {
    const text = compiled({ serve: { sources: ['100.64.0.2/32', '100.64.0.3/32'] } }, [], true);
    expect(text).to.contain(`counter ${FORWARD_MARKER}`);
    expect(text).to.contain('type nat hook postrouting priority srcnat; policy accept;');
    expect(text).to.contain('iifname "rn0" oifname != "rn0" ip saddr { 100.64.0.2, 100.64.0.3 } masquerade comment "exit node"');
    const fwd = text.slice(text.indexOf('chain forward'));
    const accept = fwd.indexOf('ip saddr { 100.64.0.2, 100.64.0.3 } accept comment "exit node: mesh to uplink"');
    expect(accept).to.be.greaterThan(0);
    expect(accept).to.be.lessThan(fwd.indexOf('jump acl'));
    expect(text).not.to.contain('gw_kill');
  });

  it('serve without owning forwarding writes no marker', () => {
    expect(compiled({ serve: { sources: ['100.64.0.2/32'] } }, [], false)).not.to.contain(FORWARD_MARKER);
  });

  it('kill switch: tunnel, loopback and the allowed underlay hosts pass, the rest is dropped and counted', () => {
    const text = compiled({ killSwitch: { allow: ['10.99.0.2', '10.99.0.3', 'fd99::2'], lanAccess: false } }, ['192.168.7.0/24']);
    const chain = text.slice(text.indexOf('chain gw_kill'));
    expect(chain).to.contain('type filter hook output priority filter; policy accept;');
    expect(chain).to.contain('oifname "rn0" accept');
    expect(chain).to.contain('ip daddr { 10.99.0.2, 10.99.0.3 } accept');
    expect(chain).to.contain('ip6 daddr fd99::2 accept');
    expect(chain).not.to.contain('192.168.7.0/24');
    expect(chain).to.contain(`counter name "${KILL_COUNTER}" drop`);
  });

  it('kill switch with LAN access lets the connected subnets through', () => {
    const text = compiled({ killSwitch: { allow: ['10.99.0.2'], lanAccess: true } }, ['192.168.7.0/24']);
    expect(text).to.contain('ip daddr 192.168.7.0/24 accept comment "LAN access"');
  });

  it('rejects bad input naming the field', () => {
    expect(() => validateGateway({ serve: { sources: ['nope'] } })).to.throw(/gateway\.serve\.sources\[0\]/);
    expect(() => validateGateway({ killSwitch: { allow: ['10.0.0.1', 'x'], lanAccess: false } })).to.throw(/gateway\.killSwitch\.allow\[1\]/);
    expect(() => validateGateway({ killSwitch: { allow: [], lanAccess: 'yes' as unknown as boolean } })).to.throw(/lanAccess/);
  });

  it('finds the forwarding marker in nft -j output', () => {
    expect(hasForwardMarker(JSON.stringify({ nftables: [{ counter: { name: FORWARD_MARKER } }] }))).to.equal(true);
    expect(hasForwardMarker(JSON.stringify({ nftables: [{ counter: { name: 'r_0' } }] }))).to.equal(false);
    expect(hasForwardMarker('not json')).to.equal(false);
  });

  it('reads connected prefixes off the mesh from ip -j route', () => {
    const json = JSON.stringify([
      { dst: '192.168.7.0/24', dev: 'eth0', scope: 'link' },
      { dst: '100.64.0.0/10', dev: 'rn0', scope: 'link' },
      { dst: '10.1.1.1', dev: 'eth1' },
      { dst: 'fe80::/64', dev: 'eth0' },
    ]);
    expect(connectedPrefixes(json, ['rn0'])).to.deep.equal(['192.168.7.0/24', '10.1.1.1/32']);
  });
});
