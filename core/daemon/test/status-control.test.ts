/**
 * Status `control`: the netmap source's standing with the control plane (a control-plane source
 * has `controlStatus()`), so `rustynet status` can say why the node is refused and what to do.
 */
import { expect } from 'chai';
import { writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import {
  Daemon,
  FileNetmapSource,
  generateEd25519KeyPair,
  isDaemonStatus,
  signNetmap,
  type ControlStatus,
  type DaemonConfig,
  type NetmapSource,
} from '../src/index.js';
import { FAKE_BACKEND_SOURCE, fakeBackendManifest, makeNetmap, testServices, tmpDir, writePluginFixture } from './helpers.js';

describe('Daemon status: the control plane refusing this node', function () {
  this.timeout(20000);

  async function daemonWith(source: (file: string) => NetmapSource): Promise<Daemon> {
    const dir = tmpDir('rn-dctl-');
    const cp = generateEd25519KeyPair();
    const file = join(dir, 'netmap.json');
    writeFileSync(file, JSON.stringify(signNetmap(makeNetmap(2, 1), cp.privateKeyPem)));
    const config: DaemonConfig = {
      node: 'n0',
      stateDir: join(dir, 'state'),
      socket: join(dir, 'd.sock'),
      controlPlaneKey: cp.publicKeyB64,
      netmap: { file, pollIntervalMs: 3_600_000 },
      backend: {
        plugin: writePluginFixture(join(dir, 'fake-backend'), fakeBackendManifest(), FAKE_BACKEND_SOURCE),
        interfaceName: `dc${randomBytes(3).toString('hex')}`,
        keyDirectory: join(dir, 'keys'),
      },
    };
    const d = new Daemon(config, { services: testServices(config.stateDir), processGuards: false, netmapSource: source(file) });
    await d.start();
    return d;
  }

  it("carries the source's refusal, valid against the status schema, and follows it as it changes", async () => {
    let standing: ControlStatus = { refusal: null };
    const d = await daemonWith((file) => {
      const s = new FileNetmapSource(file) as FileNetmapSource & { controlStatus: () => ControlStatus };
      s.controlStatus = () => standing;
      return s;
    });
    try {
      const ok = await d.status();
      expect(ok.control).to.deep.equal({ refusal: null });
      expect(isDaemonStatus(ok)).to.equal(true);
      standing = {
        refusal: { reason: 'node-key-expired', message: 'node n0: its keys expired', since: new Date().toISOString(), action: 'do this' },
      };
      const refused = await d.status();
      expect(refused.control?.refusal?.reason).to.equal('node-key-expired');
      expect(refused.state).to.equal('up'); // the last good netmap stays until it expires
      expect(isDaemonStatus(JSON.parse(JSON.stringify(refused)))).to.equal(true);
    } finally {
      await d.stop();
    }
  });

  it('has no `control` when the netmap does not come from a control plane', async () => {
    const d = await daemonWith((file) => new FileNetmapSource(file));
    try {
      expect(await d.status()).to.not.have.property('control');
    } finally {
      await d.stop();
    }
  });
});
