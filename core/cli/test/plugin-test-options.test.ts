import { expect } from 'chai';
import { fileURLToPath } from 'node:url';
import { rn } from './helpers.js';

// Real plugins of the workspace (built): the loader runs for real, no root needed for these
// cases because a bad backend is reported before the kit asks for root.
const POLICY = fileURLToPath(new URL('../../../../plugins/policy-nftables', import.meta.url));
const BACKEND = fileURLToPath(new URL('../../../../plugins/backend-wireguard', import.meta.url));

describe('rustynet plugin test --backend (policy suite backend)', () => {
  it('--help documents --backend, its default and the env variable, with an example', async () => {
    const r = await rn(['plugin', 'test', '--help']);
    expect(r.code).to.equal(0);
    expect(r.stdout).to.contain('--backend <plugin>');
    expect(r.stdout).to.match(/RUSTYNET_KIT_POLICY_BACKEND/);
    expect(r.stdout).to.contain('@rustynet/backend-wireguard');
    expect(r.stdout).to.contain('$ sudo rustynet plugin test plugins/policy-nftables --backend @rustynet/backend-openvpn');
  });

  it('a --backend that cannot be loaded exits 2 with the loader error, naming the backend', async () => {
    const r = await rn(['plugin', 'test', POLICY, '--backend', './nope']);
    expect(r.code, r.stderr).to.equal(2);
    expect(r.stderr).to.match(/^rustynet: PLUGIN_NOT_FOUND: backend \.\/nope: /m);
    expect(r.stdout).to.not.contain('passed');
  });

  it('a --backend that is not a backend plugin exits 2 (PLUGIN_LOAD_FAILED)', async () => {
    const r = await rn(['plugin', 'test', POLICY, '--backend', POLICY]);
    expect(r.code, r.stderr).to.equal(2);
    expect(r.stderr).to.match(/^rustynet: PLUGIN_LOAD_FAILED: backend .*a backend plugin is required here/m);
  });

  it('--backend wins over RUSTYNET_KIT_POLICY_BACKEND, which is used without the flag', async () => {
    const env = { RUSTYNET_KIT_POLICY_BACKEND: './env-nope' };
    const flag = await rn(['plugin', 'test', POLICY, '--backend', './flag-nope'], { env });
    expect(flag.code).to.equal(2);
    expect(flag.stderr).to.contain('backend ./flag-nope:');
    expect(flag.stderr).to.not.contain('env-nope');
    const fromEnv = await rn(['plugin', 'test', POLICY], { env });
    expect(fromEnv.code).to.equal(2);
    expect(fromEnv.stderr).to.contain('backend ./env-nope:');
  });

  it('an empty --backend is INVALID_INPUT (exit 2)', async () => {
    const r = await rn(['plugin', 'test', POLICY, '--backend', '']);
    expect(r.code).to.equal(2);
    expect(r.stderr).to.match(/INVALID_INPUT: backend must be a package name or a path/);
  });

  it('is ignored for a plugin that is not a policy plugin', async () => {
    // No test matches, so nothing runs: as root the run ends "no test matched" (exit 1) with a
    // report without `backend`; without root the kit stops at PERMISSION_DENIED (exit 2).
    const r = await rn(['plugin', 'test', BACKEND, '--backend', './nope', '--grep', '^no-such-test$', '--reporter', 'json']);
    expect(r.stderr + r.stdout).to.not.contain('nope:');
    if (process.getuid?.() === 0) {
      expect(r.code, r.stderr).to.equal(1);
      const report = JSON.parse(r.stdout) as Record<string, unknown>;
      expect(report).to.not.have.property('backend');
      expect(report['grep']).to.equal('^no-such-test$');
    } else {
      expect(r.code).to.equal(2);
      expect(r.stderr).to.contain('PERMISSION_DENIED');
    }
  });
});
