/**
 * The daemon's tracing switch: which of config and `OTEL_*` environment turns tracing on, the
 * errors for bad input, and a real export: the OTLP/HTTP exporter POSTs JSON spans to a
 * node:http receiver on loopback, flushed by `shutdown`.
 */
import { expect } from 'chai';
import { createServer, type Server } from 'node:http';
import { isRustynetError } from '@rustynet/plugin-api';
import { SpanNames, withSpan } from '@rustynet/plugin-kit';
import { resolveTracing, startTracing, tracesUrl } from '../src/tracing/tracing-sdk.js';
import { validateDaemonConfig } from '../src/config/load.js';

describe('tracing: resolveTracing', () => {
  it('off unless configured', () => {
    expect(resolveTracing(undefined, {}, 'rustynetd')).to.equal(undefined);
  });
  it('config wins over the environment; exporter none turns it off even with OTEL_* set', () => {
    const env = { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://10.0.0.1:4318', OTEL_SERVICE_NAME: 'from-env' };
    expect(resolveTracing({ exporter: 'none' }, env, 'rustynetd')).to.equal(undefined);
    expect(resolveTracing({ exporter: 'otlp', endpoint: 'http://127.0.0.1:4318' }, env, 'rustynetd')).to.deep.equal({
      exporter: 'otlp',
      url: 'http://127.0.0.1:4318/v1/traces',
      serviceName: 'from-env',
      source: 'config',
    });
    expect(resolveTracing({ exporter: 'console', serviceName: 'n1' }, env, 'rustynetd')).to.deep.equal({
      exporter: 'console',
      serviceName: 'n1',
      source: 'config',
    });
  });
  it('environment: OTEL_TRACES_EXPORTER, else an OTLP endpoint variable; OTEL_SDK_DISABLED=true beats both', () => {
    expect(resolveTracing(undefined, { OTEL_TRACES_EXPORTER: 'console' }, 'd')).to.deep.include({ exporter: 'console', source: 'env' });
    expect(resolveTracing(undefined, { OTEL_TRACES_EXPORTER: 'otlp' }, 'd')).to.deep.include({ exporter: 'otlp', serviceName: 'd' });
    expect(resolveTracing(undefined, { OTEL_TRACES_EXPORTER: 'none', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://x:1' }, 'd')).to.equal(undefined);
    expect(resolveTracing(undefined, { OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://x:1/v1/traces' }, 'd')).to.deep.include({
      exporter: 'otlp',
    });
    expect(resolveTracing({ exporter: 'otlp' }, { OTEL_SDK_DISABLED: 'true' }, 'd')).to.equal(undefined);
  });
  it('an unknown OTEL_TRACES_EXPORTER is CONFIG_INVALID naming the variable', () => {
    try {
      resolveTracing(undefined, { OTEL_TRACES_EXPORTER: 'zipkin' }, 'd');
      expect.fail('expected a throw');
    } catch (err) {
      expect(isRustynetError(err, 'CONFIG_INVALID')).to.equal(true);
      expect((err as { field?: string }).field).to.equal('OTEL_TRACES_EXPORTER');
    }
  });
  it('tracesUrl appends /v1/traces to a bare base URL only', () => {
    expect(tracesUrl('http://127.0.0.1:4318')).to.equal('http://127.0.0.1:4318/v1/traces');
    expect(tracesUrl('https://otel.example:443/custom/path')).to.equal('https://otel.example/custom/path');
  });
  it('the daemon config schema checks the tracing block and names the field', () => {
    const base = {
      node: 'a',
      stateDir: '/s',
      socket: '/s.sock',
      controlPlaneKey: Buffer.alloc(32, 7).toString('base64'),
      netmap: { file: '/n' },
      backend: { plugin: 'b', interfaceName: 'rn0', keyDirectory: '/k' },
    };
    const ok = validateDaemonConfig({ ...base, tracing: { exporter: 'otlp', endpoint: 'http://127.0.0.1:4318' } });
    expect(ok.tracing).to.deep.equal({ exporter: 'otlp', endpoint: 'http://127.0.0.1:4318' });
    for (const [tracing, field] of [
      [{ exporter: 'jaeger' }, 'tracing.exporter'],
      [{ exporter: 'otlp', endpoint: 'ftp://x' }, 'tracing.endpoint'],
      [{ exporter: 'otlp', endpoint: 'http://user:pw@x:4318' }, 'tracing.endpoint'],
      [{ exporter: 'otlp', headers: { authorization: 'x' } }, 'tracing.headers'],
    ] as const) {
      try {
        validateDaemonConfig({ ...base, tracing });
        expect.fail(`accepted ${JSON.stringify(tracing)}`);
      } catch (err) {
        expect(isRustynetError(err, 'CONFIG_INVALID'), String(err)).to.equal(true);
        expect((err as { field?: string }).field, JSON.stringify(tracing)).to.equal(field);
      }
    }
  });
});

describe('tracing: startTracing exports over OTLP/HTTP (JSON) to a loopback receiver', () => {
  let server: Server;
  const posts: Array<{ url: string; type: string; body: string }> = [];
  before(async () => {
    server = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        posts.push({ url: req.url ?? '', type: String(req.headers['content-type']), body });
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  });
  after(() => new Promise<void>((r) => server.close(() => r())));

  it('config exporter otlp: the span arrives at POST /v1/traces with the service name, instance id and attributes', async () => {
    const port = (server.address() as { port: number }).port;
    const warnings: string[] = [];
    const noop = (): void => undefined;
    const logger = {
      trace: noop,
      debug: noop,
      info: noop,
      warn: (_o: unknown, m?: string) => void warnings.push(String(m)),
      error: noop,
    } as never;
    const h = await startTracing(
      { exporter: 'otlp', endpoint: `http://127.0.0.1:${port}` },
      {},
      { serviceName: 'rustynetd', instanceId: 'a', logger },
    );
    expect(h).to.not.equal(undefined);
    await withSpan(
      SpanNames.relayRegister,
      { 'rustynet.relay.id': 'relay-1', 'rustynet.relay.identity_key': 'SECRET' },
      async () => undefined,
    );
    await h!.shutdown();
    expect(posts.map((p) => [p.url, p.type])).to.deep.equal([['/v1/traces', 'application/json']]);
    const doc = JSON.parse(posts[0].body) as {
      resourceSpans: Array<{
        resource: { attributes: Array<{ key: string; value: { stringValue?: string } }> };
        scopeSpans: Array<{
          scope: { name: string };
          spans: Array<{ name: string; attributes: Array<{ key: string; value: { stringValue?: string } }> }>;
        }>;
      }>;
    };
    const rs = doc.resourceSpans[0];
    const res = Object.fromEntries(rs.resource.attributes.map((a) => [a.key, a.value.stringValue]));
    expect(res).to.include({ 'service.name': 'rustynetd', 'service.instance.id': 'a' });
    const span = rs.scopeSpans[0].spans[0];
    expect(rs.scopeSpans[0].scope.name).to.equal('rustynet');
    expect(span.name).to.equal('relay.register');
    expect(span.attributes.map((a) => [a.key, a.value.stringValue])).to.deep.equal([['rustynet.relay.id', 'relay-1']]);
    expect(posts[0].body).to.not.include('SECRET');
    expect(warnings).to.deep.equal([]);
    // After shutdown the API is a no-op again: nothing more is exported.
    await withSpan('after', {}, async () => undefined);
    expect(posts).to.have.length(1);
  });

  it('a collector that never answers does not hold up shutdown: it gives up at its time-out and logs a warning', async () => {
    const hung = createServer(() => undefined); // accepts, never answers
    await new Promise<void>((r) => hung.listen(0, '127.0.0.1', () => r()));
    const port = (hung.address() as { port: number }).port;
    const warnings: string[] = [];
    const noop = (): void => undefined;
    const logger = {
      trace: noop,
      debug: noop,
      info: noop,
      warn: (_o: unknown, m?: string) => void warnings.push(String(m)),
      error: noop,
    } as never;
    try {
      const h = await startTracing(
        { exporter: 'otlp', endpoint: `http://127.0.0.1:${port}` },
        {},
        { serviceName: 'rustynetd', logger, shutdownTimeoutMs: 200 },
      );
      await withSpan(SpanNames.pathSwitch, {}, async () => undefined);
      await h!.shutdown(); // resolves (mocha's time-out would catch a hang)
      expect(warnings).to.include('tracing: spans not exported by the stop deadline are dropped');
    } finally {
      hung.closeAllConnections();
      await new Promise<void>((r) => hung.close(() => r()));
    }
  });

  it('returns undefined (nothing loaded, nothing exported) when not configured', async () => {
    expect(await startTracing(undefined, {}, { serviceName: 'rustynetd' })).to.equal(undefined);
  });
});
