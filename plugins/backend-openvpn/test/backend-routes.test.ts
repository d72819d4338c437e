/**
 * Unit tests of the backend's routes against a recording fake runner: one ip call per change via
 * the peer's device, validation, and exit routes in their own table behind fwmark rules.
 */
import { expect } from 'chai';
import { failure, peer, useFakeBackend } from './support/backend-fixture.js';

describe('OpenVpnBackend routes (fake runner)', () => {
  const t = useFakeBackend();

  it('applies routes in one ip call via the peer device, with validation', async () => {
    await t.backend.start(t.startCfg());
    await t.backend.applyPeers({ upsert: [peer('a', 1), peer('c', 3)], remove: [] });
    const before = t.runner.calls.length;
    await t.backend.applyRoutes({
      add: [
        { destination: '10.1.0.0/16', peer: 'c' },
        { destination: 'fd00:77::/64', peer: 'a' },
      ],
      remove: [],
    });
    const ip = t.runner.calls.slice(before).filter((c) => c.file === 'ip');
    expect(ip).to.have.length(1);
    expect(ip[0].input).to.equal('route replace 10.1.0.0/16 dev rn0p1\nroute replace fd00:77::/64 dev rn0p0\n');
    const cases: Array<[unknown, string, string]> = [
      [{ add: [{ destination: '10.2.0.0/16', peer: 'zz' }], remove: [] }, 'UNKNOWN_PEER', 'add[0].peer'],
      [{ add: [{ destination: '10.2.0.1/16', peer: 'a' }], remove: [] }, 'INVALID_INPUT', 'add[0].destination'],
      [{ add: [{ destination: '198.18.0.0/16', peer: 'a' }], remove: [] }, 'INVALID_INPUT', 'add[0].destination'],
      [
        {
          add: [
            { destination: '10.3.0.0/16', peer: 'a' },
            { destination: '10.3.0.0/16', peer: 'c' },
          ],
          remove: [],
        },
        'INVALID_INPUT',
        'add[1].destination',
      ],
    ];
    const n = t.runner.calls.length;
    for (const [change, code, field] of cases) {
      const err = await failure(t.backend.applyRoutes(change as never));
      expect([err.code, err.field]).to.deep.equal([code, field]);
    }
    expect(t.runner.calls.length).to.equal(n);
    // Removing a peer drops its routes with its device; later removals naming it are no-ops.
    await t.backend.applyPeers({ upsert: [], remove: ['c'] });
    const m = t.runner.calls.length;
    await t.backend.applyRoutes({ add: [], remove: [{ destination: '10.1.0.0/16', peer: 'c' }] });
    expect(t.runner.calls.length).to.equal(m);
    await t.backend.applyRoutes({ add: [], remove: [{ destination: 'fd00:77::/64', peer: 'a' }] });
    expect(t.runner.calls.at(-1)!.input).to.equal('route del fd00:77::/64 dev rn0p0\n');
  });

  it('puts exit routes in their own table behind fwmark policy rules, and removes the rules with the last one', async () => {
    await t.backend.start(t.startCfg());
    await t.backend.applyPeers({ upsert: [peer('a', 1), peer('c', 3)], remove: [] });
    expect(t.runner.processes[0].config).to.match(/^mark 20310$/m);
    let n = t.runner.calls.length;
    await t.backend.applyRoutes({
      add: [
        { destination: '0.0.0.0/0', peer: 'a' },
        { destination: '::/0', peer: 'a' },
      ],
      remove: [],
    });
    let ip = t.runner.calls.slice(n).filter((c) => c.file === 'ip');
    expect(ip.map((c) => c.args)).to.deep.equal([
      ['-6', '-batch', '-'],
      ['-batch', '-'],
    ]);
    const rules = 'rule add table main suppress_prefixlength 0 pref 20310\nrule add not fwmark 20310 table 20310 pref 20311\n';
    expect(ip[0].input).to.equal(rules);
    expect(ip[1].input).to.equal('route replace 0.0.0.0/0 dev rn0p0 table 20310\nroute replace ::/0 dev rn0p0 table 20310\n' + rules);
    // Moving the exit node to c keeps the rules.
    n = t.runner.calls.length;
    await t.backend.applyRoutes({ add: [{ destination: '0.0.0.0/0', peer: 'c' }], remove: [{ destination: '0.0.0.0/0', peer: 'a' }] });
    ip = t.runner.calls.slice(n).filter((c) => c.file === 'ip');
    expect(ip.map((c) => c.input)).to.deep.equal([
      'route del 0.0.0.0/0 dev rn0p0 table 20310\nroute replace 0.0.0.0/0 dev rn0p1 table 20310\n',
    ]);
    // Removing peer a drops its ::/0 route with its device, and the IPv6 rules with it.
    n = t.runner.calls.length;
    await t.backend.applyPeers({ upsert: [], remove: ['a'] });
    ip = t.runner.calls.slice(n).filter((c) => c.file === 'ip');
    expect(ip[0].args).to.deep.equal(['-6', '-force', '-batch', '-']);
    expect(ip[0].input).to.include('rule del not fwmark 20310 table 20310 pref 20311');
    n = t.runner.calls.length;
    await t.backend.stop();
    ip = t.runner.calls.slice(n).filter((c) => c.file === 'ip');
    expect(ip.some((c) => c.input?.includes('rule del table main suppress_prefixlength 0 pref 20310') && !c.args.includes('-6'))).to.equal(
      true,
    );
  });
});
