/**
 * `rustynet status` when the control plane refuses this node (its keys expired, or an admin
 * expired or removed it): the text names the reason and what to do; `--json` carries the same
 * `control.refusal`, valid against the status schema the CLI checks every document with.
 */
import { expect } from 'chai';
import { isDaemonStatus, type DaemonStatus } from '@rustynet/daemon';
import { REFUSAL_ACTIONS } from '@rustynet/control/client';
import { renderStatus } from '../src/commands/status.js';
import { QUIET_UP } from './helpers.js';

const base: DaemonStatus = { ...QUIET_UP, node: 'a' };

describe('rustynet status: why the control plane refuses this node', () => {
  it('shows an expired node key with the re-authentication steps', () => {
    const since = new Date(Date.now() - 90_000).toISOString();
    const message = 'node a: its keys expired at 2026-12-07T10:00:00.000Z (node key lifetime); re-authenticate: ...';
    const s: DaemonStatus = {
      ...base,
      control: { refusal: { reason: 'node-key-expired', message, since, action: REFUSAL_ACTIONS['node-key-expired'] } },
    };
    expect(isDaemonStatus(s)).to.equal(true);
    const text = renderStatus(s);
    expect(text).to.match(
      /control plane refuses this node \(node-key-expired\) .*: node key EXPIRED: node a: its keys expired at 2026-12-07T10:00:00.000Z/,
    );
    expect(text).to.contain('what to do: re-authenticate: on the control host `rustynet control keys create --expires 1h > authkey`');
    expect(text).to.contain('netmap.control.authKeyFile');
  });

  it('names an admin expiry and a removal differently, and says nothing while the node is in good standing', () => {
    const at = new Date().toISOString();
    const of = (reason: 'node-expired' | 'node-removed'): string =>
      renderStatus({ ...base, control: { refusal: { reason, message: 'm', since: at, action: REFUSAL_ACTIONS[reason] } } });
    expect(of('node-expired')).to.contain('node EXPIRED by an admin').and.contain('enrol again');
    expect(of('node-removed')).to.contain('node REMOVED').and.contain('control-enrolment.json');
    expect(renderStatus({ ...base, control: { refusal: null } })).to.not.contain('refuses');
    expect(renderStatus(base)).to.not.contain('refuses');
  });

  it('the schema refuses an unknown refusal reason or a refusal without what to do', () => {
    const bad = { ...base, control: { refusal: { reason: 'tired', message: 'm', since: 'x', action: 'y' } } };
    expect(isDaemonStatus(bad)).to.equal(false);
    const noAction = { ...base, control: { refusal: { reason: 'node-expired', message: 'm', since: 'x' } } };
    expect(isDaemonStatus(noAction)).to.equal(false);
  });
});
