import { expect } from 'chai';
import type { PeerBatch, RouteChange } from '@rustynet/plugin-api';
import { Reconciler } from '../src/reconciler/reconciler.js';
import { computeDesiredState } from '../src/reconciler/desired-state.js';
import { validateDaemonConfig } from '../src/config/load.js';
import { createLogger } from '../src/services/logger.js';
import { FAKE_KEY_SCHEMA, FAKE_PROTOCOL, RecordingBackend, captureStream, makeNetmap } from './helpers.js';

/** n1 and n2 both advertise default routes; n2 also a LAN route. */
function exitNetmap() {
  const nm = makeNetmap(3);
  nm.nodes[1].routes = ['0.0.0.0/0', '::/0'];
  nm.nodes[2].routes = ['0.0.0.0/0', '10.2.0.0/16'];
  return nm;
}

async function applyWith(exitNode?: string) {
  const b = new RecordingBackend();
  const log = captureStream();
  const r = new Reconciler({
    backend: b,
    backendProtocol: FAKE_PROTOCOL,
    peerKeySchema: FAKE_KEY_SCHEMA,
    ...(exitNode !== undefined && { exitNode }),
    logger: createLogger({ level: 'info', stream: log.stream }),
  });
  await r.reconcile(exitNetmap(), 'n0');
  const peers = (b.calls[0].arg as PeerBatch).upsert;
  const routes = (b.calls[1].arg as RouteChange).add;
  return {
    r,
    log,
    allowed: Object.fromEntries(peers.map((p) => [p.id, p.allowedIps])),
    defaults: routes.filter((x) => x.destination.endsWith('/0')),
  };
}

describe('exit node opt-in', () => {
  it('without exitNode no peer gets a default route or /0 allowed IPs; the omission is logged', async () => {
    const { r, log, allowed, defaults } = await applyWith();
    expect(defaults).to.deep.equal([]);
    expect(allowed.n1).to.deep.equal(['100.64.0.2/32', 'fd00::2/128']);
    expect(allowed.n2).to.deep.equal(['100.64.0.3/32', 'fd00::3/128', '10.2.0.0/16']);
    expect(r.lastExcluded).to.deep.equal([
      { peer: 'n1', prefix: '0.0.0.0/0', reason: 'notExitNode', exitNode: null },
      { peer: 'n1', prefix: '::/0', reason: 'notExitNode', exitNode: null },
      { peer: 'n2', prefix: '0.0.0.0/0', reason: 'notExitNode', exitNode: null },
    ]);
    expect(log.text()).to.include('default routes left out');
  });

  it('with exitNode only that peer carries /0, in its routes and its allowed IPs (return traffic)', async () => {
    const one = await applyWith('n1');
    expect(one.defaults).to.deep.equal([
      { destination: '0.0.0.0/0', peer: 'n1' },
      { destination: '::/0', peer: 'n1' },
    ]);
    expect(one.allowed.n1).to.include.members(['0.0.0.0/0', '::/0']);
    expect(one.allowed.n2).to.not.include('0.0.0.0/0');
    expect(one.r.lastExcluded).to.deep.equal([{ peer: 'n2', prefix: '0.0.0.0/0', reason: 'notExitNode', exitNode: 'n1' }]);

    const two = await applyWith('n2');
    expect(two.defaults).to.deep.equal([{ destination: '0.0.0.0/0', peer: 'n2' }]);
    expect(two.allowed.n2).to.deep.equal(['100.64.0.3/32', 'fd00::3/128', '0.0.0.0/0', '10.2.0.0/16']);
    expect(two.allowed.n1).to.deep.equal(['100.64.0.2/32', 'fd00::2/128']);
  });

  it('warns when the configured exit node advertises no default route or is absent', async () => {
    for (const [exit, words] of [
      ['n0', 'is this node itself'],
      ['n9', 'is not in the netmap'],
    ] as const) {
      const { log, defaults } = await applyWith(exit);
      expect(defaults).to.deep.equal([]);
      expect(log.text()).to.include(words);
    }
    const nm = makeNetmap(2);
    const d = await computeDesiredState({
      netmap: nm,
      selfId: 'n0',
      protocol: FAKE_PROTOCOL,
      validateKey: () => undefined,
      exitNode: 'n1',
    });
    expect([...d.routes.values()].some((r) => r.destination.endsWith('/0'))).to.equal(false);
  });

  it('config: exitNode must be a node id; pathProbe fields are checked', () => {
    const base = {
      node: 'a',
      stateDir: '/s',
      socket: '/s.sock',
      controlPlaneKey: Buffer.alloc(32, 7).toString('base64'),
      netmap: { file: '/n.json' },
      backend: { plugin: 'x', interfaceName: 'rn0', keyDirectory: '/k' },
    };
    expect(() =>
      validateDaemonConfig({
        ...base,
        exitNode: 'gw-1',
        pathProbe: { port: 41641, intervalMs: 500, failuresToRelay: 3, successesToDirect: 3 },
      }),
    ).not.to.throw();
    const field = (v: unknown): string | undefined => {
      try {
        validateDaemonConfig(v);
      } catch (err) {
        return (err as { field?: string }).field;
      }
      return undefined;
    };
    expect(field({ ...base, exitNode: 'Not A Node' })).to.equal('exitNode');
    expect(field({ ...base, pathProbe: { port: 0 } })).to.equal('pathProbe.port');
    expect(field({ ...base, pathProbe: { intervalMs: 500 } })).to.match(/^pathProbe/);
    expect(field({ ...base, pathProbe: { port: 1, failuresToRelay: 0 } })).to.equal('pathProbe.failuresToRelay');
  });
});
