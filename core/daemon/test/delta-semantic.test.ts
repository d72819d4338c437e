import { expect } from 'chai';
import { isRustynetError, type Netmap, type NetmapDelta, type NetmapNode } from '@rustynet/plugin-api';
import { applyNetmapDelta, deepFreeze } from '../src/netmap/delta.js';
import { checkDeltaSemantics } from '../src/trust/delta-semantic.js';
import { checkNetmapSemantics } from '../src/trust/semantic.js';
import { makeNetmap, makeNode } from './helpers.js';

/** The verdict of a check: 'ok' or the error's code and field. */
function verdict(check: () => void): string {
  try {
    check();
    return 'ok';
  } catch (err) {
    if (!isRustynetError(err)) throw err;
    return `${err.code} ${err.field ?? ''}`;
  }
}

/** The map `ops` make of `base` and the verdicts of the whole and the delta check on it. */
function both(base: Netmap, ops: NetmapDelta['ops']): { whole: string; delta: string } {
  const delta = {
    kind: 'netmap-delta',
    baseVersion: base.version,
    baseDigest: '',
    version: base.version + 1,
    digest: '',
    ops,
  } as NetmapDelta;
  const next = applyNetmapDelta(base, delta);
  const upserted = ops.flatMap((op) => (op.op === 'upsertNode' ? [op.node] : []));
  return { whole: verdict(() => checkNetmapSemantics(next)), delta: verdict(() => checkDeltaSemantics(next, upserted)) };
}

describe('delta semantics: the checks of a delta result at the cost of its new nodes', () => {
  const base = makeNetmap(30);
  const up = (node: NetmapNode) => ({ op: 'upsertNode' as const, node });

  it('refuses a new node claiming another node’s address, with the whole check’s field', () => {
    const r = both(base, [up(makeNode(40, { addresses: [base.nodes[3].addresses[0]] }))]);
    expect(r.delta).to.equal(r.whole);
    expect(r.delta).to.equal('NETMAP_INVALID nodes[30].addresses[0]');
  });

  it('refuses a changed node taking an address a later node has (error names the later node, as the whole check)', () => {
    const r = both(base, [up({ ...base.nodes[2], addresses: [base.nodes[9].addresses[1]] })]);
    expect(r.delta).to.equal(r.whole);
    expect(r.delta).to.match(/^NETMAP_INVALID nodes\[9\]\.addresses/);
  });

  it('accepts a node keeping its own address, and an address freed by a removal in the same delta', () => {
    expect(both(base, [up({ ...base.nodes[4], endpoints: [{ host: '198.18.9.9', port: 1 }] })])).to.deep.equal({
      whole: 'ok',
      delta: 'ok',
    });
    const moved = both(base, [{ op: 'removeNode', id: 'n5' }, up(makeNode(41, { addresses: base.nodes[5].addresses }))]);
    expect(moved).to.deep.equal({ whole: 'ok', delta: 'ok' });
  });

  it('refuses two new nodes sharing an address, a non-host address and a route with host bits', () => {
    for (const ops of [
      [up(makeNode(50, { addresses: ['100.64.9.1/32'] })), up(makeNode(51, { addresses: ['100.64.9.1/32'] }))],
      [up(makeNode(52, { addresses: ['100.64.9.0/24'] }))],
      [up(makeNode(53, { routes: ['10.1.2.3/24'] }))],
      [up(makeNode(54, { addresses: ['::ffff:100.64.0.2/128'] }))],
    ]) {
      const r = both(base, ops);
      expect(r.delta, JSON.stringify(ops)).to.equal(r.whole);
      expect(r.delta).to.match(/^NETMAP_INVALID /);
    }
  });

  for (const frozen of [false, true])
    it(`agrees with the whole check on random deltas (moves, swaps, clashes)${frozen ? ', frozen nodes (address keys cached)' : ''}`, () => {
      const base = frozen ? deepFreeze(makeNetmap(30)) : makeNetmap(30);
      randomDeltas(base);
    });
});

function randomDeltas(base: Netmap): void {
  const up = (node: NetmapNode) => ({ op: 'upsertNode' as const, node });
  {
    let seed = 7;
    const rnd = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), seed % n);
    let disagreements = 0;
    let refused = 0;
    for (let k = 0; k < 300; k++) {
      const ops: NetmapDelta['ops'] = [];
      const removed = new Set<string>();
      for (let j = 0; j < 1 + rnd(4); j++) {
        const victim = base.nodes[rnd(base.nodes.length)];
        const donor = base.nodes[rnd(base.nodes.length)];
        switch (rnd(3)) {
          case 0:
            if (!removed.has(victim.id)) {
              removed.add(victim.id);
              ops.push({ op: 'removeNode', id: victim.id });
            }
            break;
          case 1:
            ops.push(up({ ...victim, addresses: [donor.addresses[rnd(2)]] }));
            break;
          default:
            ops.push(up(makeNode(100 + rnd(20), { addresses: [donor.addresses[0]] })));
        }
      }
      const r = both(base, ops);
      if (r.delta !== r.whole) disagreements++;
      if (r.whole !== 'ok') refused++;
    }
    expect(disagreements).to.equal(0);
    expect(refused).to.be.greaterThan(50); // the random deltas do exercise the refusals
  }
}
