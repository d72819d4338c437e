/**
 * plugin-kit's tracing helpers against the real OpenTelemetry SDK (NodeTracerProvider with an
 * InMemorySpanExporter): span names, attributes, status, nesting, and the secret filter. Also
 * that without a registered SDK the helpers are inert.
 */
import { expect } from 'chai';
import { SpanStatusCode, context, propagation, trace } from '@opentelemetry/api';
import { InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import { RustynetError } from '@rustynet/plugin-api';
import { SpanAttributes, SpanNames, TRACER_NAME, safeAttributes, withSpan } from '../src/index.js';

describe('tracing: withSpan without an SDK', () => {
  it('runs the function and returns its value; the span does not record', async () => {
    let recording: boolean | undefined;
    const v = await withSpan(SpanNames.relayRegister, { a: 1 }, async (span) => {
      recording = span.isRecording();
      return 42;
    });
    expect(v).to.equal(42);
    expect(recording).to.equal(false);
  });
});

describe('tracing: withSpan with the SDK', () => {
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

  it('a sync function: one ended span with the name, the attributes and unset status', () => {
    const v = withSpan(
      SpanNames.pathSwitch,
      { [SpanAttributes.peer]: 'b', [SpanAttributes.pathTo]: 'relay', skipped: undefined },
      () => 'ok',
    );
    expect(v).to.equal('ok');
    const [s, ...rest] = exporter.getFinishedSpans();
    expect(rest).to.have.length(0);
    expect(s.name).to.equal('path.switch');
    expect(s.instrumentationScope.name).to.equal(TRACER_NAME);
    expect(s.attributes).to.deep.equal({ 'rustynet.peer.id': 'b', 'rustynet.path.to': 'relay' });
    expect(s.status.code).to.equal(SpanStatusCode.UNSET);
    expect(s.ended).to.equal(true);
  });

  it('a rejected promise: status ERROR with the message, error.type = the code, exception event; rethrown unchanged', async () => {
    const err = new RustynetError('RELAY_FAILED', 'relay r1 refused registration of node a: BAD_SIGNATURE');
    let caught: unknown;
    try {
      await withSpan(SpanNames.relayRegister, {}, async () => {
        throw err;
      });
    } catch (e) {
      caught = e;
    }
    expect(caught).to.equal(err);
    const [s] = exporter.getFinishedSpans();
    expect(s.status).to.deep.equal({ code: SpanStatusCode.ERROR, message: err.message });
    expect(s.attributes['error.type']).to.equal('RELAY_FAILED');
    expect(s.events.map((e) => [e.name, e.attributes?.['exception.type'], e.attributes?.['exception.message']])).to.deep.equal([
      ['exception', 'RELAY_FAILED', err.message],
    ]);
    expect(s.events[0].attributes?.['exception.stacktrace']).to.equal(undefined);
  });

  it('a sync throw marks the span failed too (error.type = the error name for a plain Error)', () => {
    expect(() =>
      withSpan('x', {}, () => {
        throw new TypeError('bad');
      }),
    ).to.throw(TypeError);
    const [s] = exporter.getFinishedSpans();
    expect(s.status.code).to.equal(SpanStatusCode.ERROR);
    expect(s.attributes['error.type']).to.equal('TypeError');
  });

  it('spans started inside (also after an await) are children', async () => {
    await withSpan(SpanNames.relayFailover, {}, async () => {
      await new Promise((r) => setImmediate(r));
      await withSpan(SpanNames.relayRegister, {}, async () => undefined);
    });
    const spans = exporter.getFinishedSpans();
    const parent = spans.find((s) => s.name === 'relay.failover')!;
    const child = spans.find((s) => s.name === 'relay.register')!;
    expect(child.parentSpanContext?.spanId).to.equal(parent.spanContext().spanId);
    expect(child.spanContext().traceId).to.equal(parent.spanContext().traceId);
  });

  it('attributes named like secrets are never recorded, whatever their value', () => {
    const attrs = {
      'rustynet.relay.identity_key': 'AAAA',
      'rustynet.node.private_key': 'BBBB',
      'auth.token': 'CCCC',
      'rustynet.register.signature': 'DDDD',
      'relay.nonce': 'EEEE',
      'relay.mac': 'FFFF',
      password: 'GGGG',
      'rustynet.relay.id': 'r1',
      'rustynet.relay.keepalive_ms': 5000,
      'rustynet.relay.authenticated': true,
    };
    expect(safeAttributes(attrs)).to.deep.equal({
      'rustynet.relay.id': 'r1',
      'rustynet.relay.keepalive_ms': 5000,
      'rustynet.relay.authenticated': true,
    });
    withSpan('x', attrs, () => undefined);
    expect(Object.keys(exporter.getFinishedSpans()[0].attributes).sort()).to.deep.equal([
      'rustynet.relay.authenticated',
      'rustynet.relay.id',
      'rustynet.relay.keepalive_ms',
    ]);
  });
});
