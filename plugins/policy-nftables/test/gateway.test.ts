import { expect } from 'chai';
import type { PolicyInput } from '@rustynet/plugin-api';
import { createPlugin } from '../src/index.js';
import { compileRuleset, interfaceSet } from '../src/compile.js';
import { connectedPrefixes, FORWARD_MARKER, gatewayRules, hasForwardMarker, KILL_COUNTER, validateGateway } from '../src/gateway.js';
import { DEFAULT_OPTIONS } from '../src/options.js';
import { resolvePolicy } from '../src/resolve.js';
import { clone, sampleInput } from './fixtures.js';
import { makeContext, RecordingRunner } from './support/fakes.js';

function compiled(gw: Parameters<typeof gatewayRules>[0], lan: string[] = [], owned = false): string {
  const policy = resolvePolicy(clone(sampleInput()));
  return compileRuleset(policy, DEFAULT_OPTIONS, gatewayRules(gw, interfaceSet(policy), lan, owned));
}

describe('policy-nftables gateway (exit node, kill switch)', () => {
  it('adds nothing without a gateway input', () => {
    const policy = resolvePolicy(clone(sampleInput()));
    expect(compileRuleset(policy, DEFAULT_OPTIONS, gatewayRules(undefined, '"rn0"', [], false))).to.equal(
      compileRuleset(policy, DEFAULT_OPTIONS),
    );
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
    expect(() => validateGateway({ killSwitch: { allow: ['10.0.0.1', 'x'], lanAccess: false } })).to.throw(
      /gateway\.killSwitch\.allow\[1\]/,
    );
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

describe('policy-nftables gateway: IPv4 forwarding ownership (fake runner)', () => {
  /** A fake namespace: ip_forward in `fwd`, the table's marker after an apply that wrote it. */
  function fakeHost(initial: '0' | '1', leftoverMarker = false) {
    const state = { fwd: initial, marker: leftoverMarker, table: leftoverMarker };
    const runner = new RecordingRunner((c) => {
      const a = c.args.join(' ');
      if (c.file === 'sysctl' && a === '-n net.ipv4.ip_forward') return { stdout: `${state.fwd}\n` };
      if (c.file === 'sysctl' && a.startsWith('-w net.ipv4.ip_forward=')) {
        state.fwd = a.endsWith('=1') ? '1' : '0';
        return {};
      }
      if (c.file === 'nft' && a === 'list tables') return { stdout: state.table ? 'table inet rustynet_policy\n' : '' };
      if (c.file === 'nft' && a === '-j list table inet rustynet_policy')
        return { stdout: JSON.stringify({ nftables: state.marker ? [{ counter: { name: FORWARD_MARKER } }] : [] }) };
      if (c.file === 'nft' && a === '-f -') {
        state.table = (c.input ?? '').includes('table inet rustynet_policy {');
        state.marker = (c.input ?? '').includes(`counter ${FORWARD_MARKER}`);
      }
      return {};
    });
    return { state, runner, plugin: createPlugin(makeContext({ runner })) };
  }
  const serving = (): PolicyInput => ({ ...sampleInput(), gateway: { serve: { sources: ['100.64.0.2/32'] } } });

  it('turns forwarding on when it was off, marks it, and turns it off on stop', async () => {
    const h = fakeHost('0');
    await h.plugin.start();
    await h.plugin.apply(serving());
    expect(h.state).to.include({ fwd: '1', marker: true });
    await h.plugin.apply(serving()); // a second apply keeps ownership and the marker
    expect(h.state).to.include({ fwd: '1', marker: true });
    await h.plugin.stop();
    expect(h.state.fwd).to.equal('0');
  });

  it('leaves forwarding alone when it was already on', async () => {
    const h = fakeHost('1');
    await h.plugin.start();
    await h.plugin.apply(serving());
    expect(h.state.marker).to.equal(false);
    await h.plugin.stop();
    expect(h.state.fwd).to.equal('1');
    expect(h.runner.calls.filter((c) => c.file === 'sysctl' && c.args[0] === '-w')).to.have.length(0);
  });

  it('turns forwarding off when the node stops serving', async () => {
    const h = fakeHost('0');
    await h.plugin.start();
    await h.plugin.apply(serving());
    await h.plugin.apply(sampleInput());
    expect(h.state).to.include({ fwd: '0', marker: false });
    await h.plugin.stop();
  });

  it('start after a crash: the marker left in the table turns forwarding back off', async () => {
    const h = fakeHost('1', true);
    await h.plugin.start();
    expect(h.state.fwd).to.equal('0');
    await h.plugin.stop();
  });
});
