import { expect } from 'chai';
import type { GatewayInput, Netmap } from '@rustynet/plugin-api';
import { exitStatusOf } from '../src/local/status.js';
import { EXIT_DOWN_AFTER_S, type PeerStatus } from '../src/local/status-types.js';
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

describe('status exit object', () => {
  const now = Date.parse('2026-06-01T12:00:00Z');
  const peer = (id: string, hsAgoS: number | null): PeerStatus => ({
    id,
    endpoint: null,
    path: 'direct',
    allowedIps: [],
    lastHandshakeAt: hsAgoS === null ? null : new Date(now - hsAgoS * 1000).toISOString(),
    rxBytes: 0,
    txBytes: 0,
  });
  const client: GatewayInput = { killSwitch: { allow: [], lanAccess: true } };

  it('null without exit duties; serving for an exit', () => {
    expect(exitStatusOf(undefined, null, [], now)).to.equal(null);
    expect(exitStatusOf({ serve: { sources: [] } }, null, [], now)).to.deep.equal({
      node: null,
      serving: true,
      killSwitch: 'off',
      lanAccess: false,
      lastHandshakeAt: null,
    });
  });

  it('armed with a fresh handshake or none yet; blocking when stale or the exit is not a peer', () => {
    expect(exitStatusOf(client, 'b', [peer('b', 10)], now)?.killSwitch).to.equal('armed');
    expect(exitStatusOf(client, 'b', [peer('b', null)], now)?.killSwitch).to.equal('armed');
    expect(exitStatusOf(client, 'b', [peer('b', EXIT_DOWN_AFTER_S + 1)], now)?.killSwitch).to.equal('blocking');
    expect(exitStatusOf(client, 'b', [peer('c', 1)], now)?.killSwitch).to.equal('blocking');
    expect(exitStatusOf(client, 'b', [peer('b', 10)], now)?.lanAccess).to.equal(true);
  });
});
