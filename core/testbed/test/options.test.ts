/**
 * The testbed's mechanism takes its plugins as parameters (no root needed): option defaults,
 * daemon configs and netmaps built from them.
 */
import { expect } from 'chai';
import type { TestHost } from '@rustynet/conformance-kit/harness';
import {
  REFERENCE_BACKEND_PROFILES,
  REFERENCE_PLUGINS,
  buildDaemonConfig,
  buildNetmap,
  checkPrerequisites,
  resolveMeshOptions,
  wireguardGoProfile,
  type MeshNode,
} from '../src/index.js';

function node(id: string, index: number): MeshNode {
  const dir = `/tmp/mesh/${id}`;
  const host: Pick<TestHost, 'underlayAddress'> = { underlayAddress: `198.18.0.${index + 1}` };
  return {
    id,
    index,
    host: host as TestHost,
    ifname: `rnm00${id}`,
    v4: `100.64.0.${index + 1}`,
    v6: `fd7a:115c:a1e0::${index + 1}`,
    dir,
    keyDir: `${dir}/keys`,
    configFile: `${dir}/rustynetd.json`,
    netmapFile: `${dir}/netmap.json`,
    socket: `${dir}/rustynetd.sock`,
    logFile: `${dir}/rustynetd.log`,
    outFile: `${dir}/rustynetd.out`,
    identityKey: `id-${id}`,
    keys: { proto: `key-${id}` },
  };
}

describe('testbed options and configs (unit)', function () {
  it('defaults to the reference plugins and backend profiles', function () {
    const o = resolveMeshOptions({ backends: ['./my-backend'] });
    expect(o.plugins).to.deep.equal(REFERENCE_PLUGINS);
    expect(o.backendProfiles).to.equal(REFERENCE_BACKEND_PROFILES);
    expect(o.nodes).to.deep.equal(['a', 'b', 'c']);
  });

  it('takes other plugins; an absent entry keeps its default', function () {
    const o = resolveMeshOptions({ backends: ['./b'], plugins: { policy: './my-policy', policyTable: 'my_table' } });
    expect(o.plugins).to.deep.equal({ ...REFERENCE_PLUGINS, policy: './my-policy', policyTable: 'my_table' });
  });

  it('rejects no backend, a bad node id, and a node named like the relay host', function () {
    expect(() => resolveMeshOptions({ backends: [] })).to.throw(RangeError);
    expect(() => resolveMeshOptions({ backends: ['x'], nodes: ['Bad-Id'] })).to.throw(RangeError, /bad node id/);
    expect(() => resolveMeshOptions({ backends: ['x'], nodes: ['relay'], relay: true })).to.throw(RangeError, /relay host/);
  });

  it('puts the given plugins into the daemon config', function () {
    const o = resolveMeshOptions({
      backends: ['./b'],
      policy: true,
      dns: true,
      relay: true,
      plugins: { policy: './p', dns: './d', relay: './r' },
    });
    const cfg = buildDaemonConfig(node('a', 0), './b', 'proto', 'cp-key', o);
    expect(cfg['plugins']).to.deep.equal([
      { plugin: './p', options: {} },
      { plugin: './d', options: { port: 53 } },
      { plugin: './r', options: {} },
    ]);
    expect(cfg['backend']).to.include({ plugin: './b', interfaceName: 'rnm00a', keyDirectory: '/tmp/mesh/a/keys/proto' });
  });

  it('builds a netmap with the relay and probe ports only when there is a relay', function () {
    const nodes = [node('a', 0), node('b', 1)];
    const shape = { runId: '00', listenPort: 51820, ttlMs: 60_000, acl: undefined };
    const plain = buildNetmap(1, nodes, { ...shape, relayAddress: undefined });
    expect(plain.relays).to.equal(undefined);
    expect(plain.nodes.map((n) => n.probePort)).to.deep.equal([undefined, undefined]);
    const relayed = buildNetmap(2, nodes, { ...shape, relayAddress: '198.18.0.9' }, { without: ['b'] });
    expect(relayed.relays).to.deep.equal([{ id: 'relay-1', endpoint: { host: '198.18.0.9', port: 3478 } }]);
    expect(relayed.nodes.map((n) => n.id)).to.deep.equal(['a']);
  });

  it('takes backend profiles for prerequisites, and the socket directory of wireguard-go', function () {
    expect(wireguardGoProfile('/run/other').runtimeFiles('rnm1a')).to.deep.equal(['/run/other/rnm1a.sock']);
    const missing = checkPrerequisites(['./b'], {
      profiles: { './b': { tools: [['no-such-tool-xyz']], processNames: [], runtimeFiles: () => [] } },
    });
    expect(missing.join('\n')).to.match(/missing tools: .*no-such-tool-xyz/);
  });
});
