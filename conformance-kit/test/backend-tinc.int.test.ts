/**
 * The third-party tinc backend (examples/backend-tinc, outside the npm workspace) built against
 * the workspace's @rustynet packages the way its README says (scripts/link-workspace.mjs links
 * them like `file:` dependencies, then its own tsc build), then the whole kit against it with
 * real traffic between namespaces. The tests tinc 1.0 cannot pass are listed in its README; this
 * test holds that list true both ways: any other failure fails here, and so does a listed test
 * that starts passing (then the README and this list are out of date). The restart-related tests
 * may go either way (README "Not yet reliable"), and the tests of capabilities the manifest
 * declares false must be skipped with a reason naming them.
 */
import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { runPluginTest } from '../src/index.js';
import { ROOT, expectValidReport, readReport, sink, useTmpDir } from './helpers/self-test.js';

const TINC = join(ROOT, 'examples', 'backend-tinc');

/** Tests tinc 1.0 fails by design (README "Known failures"), with the reason. */
export const TINC_KNOWN_FAILURES: Readonly<Record<string, string>> = {
  'backend.encryption.aead-cipher': 'tinc 1.0 has no AEAD data channel (CBC + HMAC)',
  'backend.isolation.spoofed-source': 'tinc 1.0 does not check a packet source against the sending node',
};

/**
 * Tests that pass in most runs but not all (README "Not yet reliable"): after one node's tincd
 * restarts, its meta connection comes back within a second (SIGALRM, `MaxTimeout = 1`), but in
 * some runs no packet crosses for several seconds although both tincds report the connection
 * active. They may pass or fail here; any other failure fails this test.
 */
export const TINC_TIMING_DEPENDENT: Readonly<Record<string, string>> = {
  'backend.repeat.restart-cycles': 'no traffic for seconds after a restart in some runs, connection active',
  'backend.fault.process-killed': 'no traffic for seconds after a restart in some runs, connection active',
  'backend.endpoints.upsert-new-endpoint':
    'after an Address change tincd keeps its meta connection on the old address until it times out (fails in full runs, passes alone)',
  'backend.fault.host-killed': 'no traffic for seconds after a restart in some runs, connection active',
};

/**
 * Tests skipped for a capability the manifest honestly declares false, with that capability.
 * `persistentKeepalive`: tinc 1.0 has one global `PingInterval` and sends path-MTU probes on its
 * own, so it cannot honour a per-peer keepalive.
 */
export const TINC_HONEST_SKIPS: Readonly<Record<string, string>> = {
  'backend.changes.keepalive': 'persistentKeepalive',
  'backend.endpoints.roaming': 'roaming',
  'backend.routes.exit-node': 'exitNode',
  'backend.capabilities.udp-transport': 'udpTransport',
  'backend.stats.handshake': 'handshakeStats',
};

describe('runPluginTest against the third-party tinc backend (int)', function () {
  this.timeout(600_000);
  const tmp = useTmpDir('rnt-tinc-');

  before(function () {
    if (!existsSync('/usr/sbin/tincd')) this.skip();
    execFileSync(process.execPath, [join(TINC, 'scripts', 'link-workspace.mjs')], { cwd: TINC, stdio: 'pipe' });
    execFileSync(process.execPath, [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', TINC], { cwd: ROOT, stdio: 'pipe' });
  });

  it('builds from its own package and passes the kit except the documented tinc 1.0 gaps; skips name their reason', async () => {
    const output = join(tmp(), 'report.json');
    const out = sink();
    const t0 = Date.now();
    // quick profile: the 200-peer batch spends ~2 min generating 200 RSA keys outside its deadline.
    const code = await runPluginTest({ plugin: TINC, reporter: 'json', output, stdout: out, stderr: out, cwd: ROOT, profile: 'quick' });
    const seconds = (Date.now() - t0) / 1000;
    const report = readReport(output);
    expectValidReport(report);
    expect(report.plugin.kind).to.equal('backend');
    const failed = report.tests.filter((t) => t.status === 'failed' && !(t.id in TINC_TIMING_DEPENDENT)).map((t) => t.id);
    const flaky = report.tests.filter((t) => t.status === 'failed' && t.id in TINC_TIMING_DEPENDENT).map((t) => t.id);
    expect(failed, out.text).to.have.members(Object.keys(TINC_KNOWN_FAILURES));
    expect(code).to.equal(1);
    expect(report.summary.passed).to.be.greaterThan(40);
    for (const s of report.tests.filter((t) => t.status === 'skipped')) expect(s.skipReason, s.id).to.be.a('string');
    for (const id of ['backend.peers.ping-two-peers', 'backend.peers.batch-50-traffic', 'backend.teardown.clean'])
      expect(report.tests.find((t) => t.id === id)?.status, id).to.equal('passed');
    for (const [id, cap] of Object.entries(TINC_HONEST_SKIPS)) {
      const t = report.tests.find((x) => x.id === id);
      expect(t?.status, id).to.equal('skipped');
      expect(t?.skipReason, id).to.include(cap);
    }
    console.log(
      `      (tinc run: ${seconds.toFixed(1)} s, ${report.summary.passed} passed, ${failed.length} failed as documented, ${report.summary.skipped} skipped; not yet reliable, failed this run: ${flaky.join(', ') || 'none'})`,
    );
  });
});
