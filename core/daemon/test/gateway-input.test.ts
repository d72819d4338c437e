import { expect } from 'chai';
import type { Netmap } from '@rustynet/plugin-api';
import { gatewayInputFrom, gatewaySettingsFrom, urlHostLiteral } from '../src/reconciler/gateway.js';

const netmap = {
  version: 1,
  issuedAt: '2026-01-01T00:00:00Z',
  expiresAt: '2027-01-01T00:00:00Z',
  nodes: [
    { id: 'a', addresses: ['100.64.0.1/32', 'fd00::1/128'], endpoints: [{ host: '10.0.0.1', port: 1 }], keys: {}, identityKey: 'k' },
    {
      id: 'b',
      addresses: ['100.64.0.2/32'],
      endpoints: [{ host: '10.0.0.2', port: 1 }],
      keys: {},
      identityKey: 'k',
      routes: ['0.0.0.0/0'],
    },
    { id: 'c', addresses: ['100.64.0.3/32'], endpoints: [], keys: {}, identityKey: 'k' },
  ],
  relays: [{ id: 'r', endpoint: { host: '10.0.0.9', port: 3478 } }],
} as unknown as Netmap;

describe('gateway input (exit node duties)', () => {
  it('nothing for a node that neither serves nor uses an exit', () => {
    expect(gatewayInputFrom(netmap, 'a', {})).to.equal(undefined);
  });

  it("the node advertising 0.0.0.0/0 serves every other node's IPv4 address", () => {
    expect(gatewayInputFrom(netmap, 'b', {})).to.deep.equal({ serve: { sources: ['100.64.0.1/32', '100.64.0.3/32'] } });
  });

  it('a node using an exit arms the kill switch with peers, relays and extra hosts allowed', () => {
    expect(gatewayInputFrom(netmap, 'a', { exitNode: 'b', lanAccess: true, allow: ['10.0.0.50'] })).to.deep.equal({
      killSwitch: { allow: ['10.0.0.2', '10.0.0.50', '10.0.0.9'], lanAccess: true },
    });
  });

  it('the kill switch stays armed when the chosen exit is not in the netmap (fail closed)', () => {
    expect(gatewayInputFrom(netmap, 'a', { exitNode: 'gone' })?.killSwitch?.lanAccess).to.equal(false);
  });

  it('the control plane host joins the allow list when it is an IP literal', () => {
    expect(urlHostLiteral('http://10.0.0.5:8080/x')).to.equal('10.0.0.5');
    expect(urlHostLiteral('https://[fd00::5]:1/')).to.equal('fd00::5');
    expect(urlHostLiteral('https://control.example/')).to.equal(undefined);
    expect(
      gatewaySettingsFrom({ exitNode: 'b', netmap: { control: { url: 'http://10.0.0.5:1', urls: ['http://10.0.0.6:1'] } } }),
    ).to.deep.equal({
      exitNode: 'b',
      lanAccess: false,
      allow: ['10.0.0.5', '10.0.0.6'],
    });
  });
});
