import { expect } from 'chai';
import { join } from 'node:path';
import { LocalApi, localApiRequest, type LocalApiHandlers } from '../src/api/local-api.js';
import { diagnosticHandlers, diagnosticPing, findNode } from '../src/local/diagnostics.js';
import { NodeState } from '../src/local/ingest.js';
import { makeNetmap, makeNode, tmpDir } from './helpers.js';

const base: LocalApiHandlers = {
  status: async () => ({}),
  plugins: async () => [],
  up: async () => ({}),
  down: async () => ({}),
  reload: async () => ({}),
  metrics: async () => ({ contentType: 'text/plain', body: '' }),
  timeline: async () => [],
};

describe('diagnostics (local API)', () => {
  const netmap = makeNetmap(3);
  netmap.nodes[1] = makeNode(1, { name: 'bob' });
  netmap.nodes[2] = makeNode(2, { name: 'bob' });

  it('findNode: id, overlay IP with or without prefix, identity and backend key; ambiguity and absence name the field', () => {
    expect(findNode(netmap, 'n0').id).to.equal('n0');
    expect(findNode(netmap, '100.64.0.2').id).to.equal('n1');
    expect(findNode(netmap, '100.64.0.2/32').id).to.equal('n1');
    expect(findNode(netmap, netmap.nodes[2].identityKey).id).to.equal('n2');
    const key = Object.values(netmap.nodes[0].keys)[0];
    expect(findNode(netmap, key).id).to.equal('n0');
    expect(() => findNode(netmap, 'bob'))
      .to.throw(/names 2 nodes/)
      .with.property('field', 'peer');
    expect(() => findNode(netmap, 'zed'))
      .to.throw(/no node "zed"/)
      .with.property('field', 'peer');
  });

  it('diagnosticPing refuses a bad time-out, then NOT_RUNNING without a session; nothing is sent', async () => {
    const deps = { node: 'n0', state: new NodeState(), session: () => undefined };
    for (const t of [0, -1, 1.5, 30_001]) {
      const err = await diagnosticPing(deps, 'n1', t).catch((e: unknown) => e);
      expect(err, String(t)).to.have.property('code', 'INVALID_INPUT');
      expect(err).to.have.property('field', 'timeoutMs');
    }
    expect(await diagnosticPing(deps, 'n1', 100).catch((e: unknown) => e)).to.have.property('code', 'NOT_RUNNING');
  });

  it('HTTP: /v1/ping validates its query; /v1/netmap answers null before a netmap; a daemon without the handlers answers UNSUPPORTED', async () => {
    const dir = tmpDir();
    const state = new NodeState();
    const api = new LocalApi(join(dir, 'a.sock'), { ...base, ...diagnosticHandlers({ node: 'n0', state, session: () => undefined }) });
    const bare = new LocalApi(join(dir, 'b.sock'), base);
    await api.start();
    await bare.start();
    try {
      const noPeer = await localApiRequest(api.socketPath, 'POST', '/v1/ping');
      expect(noPeer.status).to.equal(400);
      expect(noPeer.json).to.deep.nested.include({ 'error.code': 'INVALID_INPUT', 'error.field': 'peer' });
      const badT = await localApiRequest(api.socketPath, 'POST', '/v1/ping?peer=n1&timeoutMs=1e3');
      expect(badT.status).to.equal(400);
      expect(badT.json).to.deep.nested.include({ 'error.field': 'timeoutMs' });
      expect((await localApiRequest(api.socketPath, 'GET', '/v1/ping?peer=n1')).status).to.equal(405);
      expect((await localApiRequest(api.socketPath, 'POST', '/v1/ping?peer=n1')).status).to.equal(409); // NOT_RUNNING
      const nm = await localApiRequest(api.socketPath, 'GET', '/v1/netmap');
      expect(nm.json).to.deep.equal({ node: 'n0', appliedAt: null, netmap: null });
      const none = await localApiRequest(bare.socketPath, 'GET', '/v1/audit');
      expect(none.status).to.equal(501);
      expect(none.json).to.deep.nested.include({ 'error.code': 'UNSUPPORTED' });
    } finally {
      await api.stop();
      await bare.stop();
    }
  });
});
