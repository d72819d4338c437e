/**
 * The path controller's `path.switch` span against the real OpenTelemetry SDK
 * (NodeTracerProvider with an InMemorySpanExporter): a switch to the relay and back, a failed
 * switch (status ERROR, the failed step), and a switch with nothing to do. The relay plugin's
 * `openPath` span of the same switch is its child.
 */
import { expect } from 'chai';
import { SpanStatusCode, context, propagation, trace } from '@opentelemetry/api';
import { InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import { withSpan } from '@rustynet/plugin-kit';
import { PathSwitcher } from '../src/path/path-switcher.js';
import type { PathControllerOptions, PeerState } from '../src/path/path-types.js';
import { RttEstimator } from '../src/path/rtt-estimator.js';
import { makeNode } from './helpers.js';

describe('path controller tracing: path.switch', () => {
  const exporter = new InMemorySpanExporter();
  let provider: NodeTracerProvider;
  before(() => {
    provider = new NodeTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
    provider.register();
  });
  after(async () => {
    await provider.shutdown();
    trace.disable();
    context.disable();
    propagation.disable();
  });
  afterEach(() => exporter.reset());

  function rig(fail: { open?: boolean; update?: boolean } = {}) {
    const node = makeNode(1);
    const state: PeerState = {
      node,
      path: 'direct',
      misses: 0,
      successes: 0,
      rtt: new RttEstimator({ minMs: 100, maxMs: 1000 }),
      switching: false,
      failedSwitches: 0,
      nextAttemptAt: 0,
    };
    const opts = {
      relay: {
        openPath: () =>
          withSpan('relay.session.setup', {}, async () => {
            if (fail.open) throw Object.assign(new Error('relay down'), { name: 'RustynetError', code: 'RELAY_FAILED' });
            return { host: '127.0.0.1', port: 40001 };
          }),
        closePath: async () => undefined,
      },
      backend: {
        updatePeerEndpoint: async () => {
          if (fail.update) throw Object.assign(new Error('nope'), { name: 'RustynetError', code: 'BACKEND_FAILED' });
        },
      },
      backendEndpoint: () => ({ host: '127.0.0.1', port: 51820 }),
    } as unknown as PathControllerOptions;
    const switcher = new PathSwitcher(opts, undefined, {
      current: (id, _gen, path) => (id === node.id && state.path === path ? state : undefined),
      running: () => true,
      generation: () => 0,
      switchingEnabled: () => true,
      updateGauge: () => undefined,
      settled: () => undefined,
    });
    return { node, state, switcher };
  }

  it('direct -> relay -> direct: two spans with peer, from, to, reason, outcome switched and the endpoint; openPath is a child', async () => {
    const { node, switcher } = rig();
    expect(await switcher.toRelay(node.id, 0, '3 probes unanswered')).to.equal(true);
    expect(await switcher.toDirect(node.id, 0, '3 probes answered', false)).to.equal(true);
    const sw = exporter.getFinishedSpans().filter((s) => s.name === 'path.switch');
    expect(sw.map((s) => s.attributes)).to.deep.equal([
      {
        'rustynet.peer.id': node.id,
        'rustynet.path.from': 'direct',
        'rustynet.path.to': 'relay',
        'rustynet.path.reason': '3 probes unanswered',
        'rustynet.path.endpoint': '127.0.0.1:40001',
        'rustynet.outcome': 'switched',
      },
      {
        'rustynet.peer.id': node.id,
        'rustynet.path.from': 'relay',
        'rustynet.path.to': 'direct',
        'rustynet.path.reason': '3 probes answered',
        'rustynet.path.endpoint': `${node.endpoints[0].host}:${node.endpoints[0].port}`,
        'rustynet.outcome': 'switched',
      },
    ]);
    expect(sw.map((s) => s.status.code)).to.deep.equal([SpanStatusCode.UNSET, SpanStatusCode.UNSET]);
    const setup = exporter.getFinishedSpans().find((s) => s.name === 'relay.session.setup');
    expect(setup?.parentSpanContext?.spanId).to.equal(sw[0].spanContext().spanId);
  });

  it('openPath fails: status ERROR, error.type RELAY_FAILED, failed step relay.openPath, outcome failed', async () => {
    const { node, state, switcher } = rig({ open: true });
    expect(await switcher.toRelay(node.id, 0, 'r')).to.equal(false);
    expect(state.path).to.equal('direct');
    const [s] = exporter.getFinishedSpans().filter((x) => x.name === 'path.switch');
    expect(s.status).to.deep.equal({ code: SpanStatusCode.ERROR, message: 'relay down' });
    expect(s.attributes).to.deep.include({
      'error.type': 'RELAY_FAILED',
      'rustynet.path.failed_step': 'relay.openPath',
      'rustynet.outcome': 'failed',
    });
  });

  it('the backend refuses the endpoint: failed step backend.updatePeerEndpoint, error.type BACKEND_FAILED', async () => {
    const { node, switcher } = rig({ update: true });
    expect(await switcher.toRelay(node.id, 0, 'r')).to.equal(false);
    const [s] = exporter.getFinishedSpans().filter((x) => x.name === 'path.switch');
    expect(s.status.code).to.equal(SpanStatusCode.ERROR);
    expect(s.attributes).to.deep.include({ 'error.type': 'BACKEND_FAILED', 'rustynet.path.failed_step': 'backend.updatePeerEndpoint' });
  });

  it('nothing to do (the peer is not on the expected path): outcome unchanged, status unset', async () => {
    const { node, switcher } = rig();
    expect(await switcher.toDirect(node.id, 0, 'r', false)).to.equal(true);
    const [s] = exporter.getFinishedSpans();
    expect(s.attributes['rustynet.outcome']).to.equal('unchanged');
    expect(s.status.code).to.equal(SpanStatusCode.UNSET);
  });
});
