/**
 * A minimal OTLP/HTTP trace receiver for integration tests: `node otlp-receiver.js <host> <port>`
 * listens there, answers every `POST /v1/traces` with 200 `{}` and prints one JSON line per
 * request on stdout: `{ "at": <ms since epoch>, "url", "type": <content-type>, "spans": [...] }`
 * with each span's name, attributes (flattened), status code, start time (ms) and the resource's
 * `service.instance.id`. A body that is not OTLP JSON is printed as `{ "error": ... }`. Prints
 * `listening <port>` first; exits on SIGTERM/SIGINT.
 */
import { createServer } from 'node:http';

interface AnyValue {
  stringValue?: string;
  boolValue?: boolean;
  intValue?: number | string;
  doubleValue?: number;
}
interface KeyValue {
  key: string;
  value: AnyValue;
}
interface OtlpSpan {
  name: string;
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  startTimeUnixNano: string | number;
  endTimeUnixNano: string | number;
  attributes?: KeyValue[];
  status?: { code?: number; message?: string };
}
interface OtlpTraces {
  resourceSpans: Array<{ resource?: { attributes?: KeyValue[] }; scopeSpans: Array<{ spans: OtlpSpan[] }> }>;
}

const flat = (kvs: KeyValue[] = []): Record<string, unknown> =>
  Object.fromEntries(kvs.map((kv) => [kv.key, kv.value.stringValue ?? kv.value.boolValue ?? kv.value.intValue ?? kv.value.doubleValue]));

const [host = '127.0.0.1', port = '4318'] = process.argv.slice(2);
const server = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    const line: Record<string, unknown> = { at: Date.now(), url: req.url, type: req.headers['content-type'] };
    try {
      const doc = JSON.parse(Buffer.concat(chunks).toString('utf8')) as OtlpTraces;
      line.spans = doc.resourceSpans.flatMap((rs) => {
        const resource = flat(rs.resource?.attributes);
        return rs.scopeSpans.flatMap((ss) =>
          ss.spans.map((s) => ({
            name: s.name,
            node: resource['service.instance.id'],
            service: resource['service.name'],
            spanId: s.spanId,
            parentSpanId: s.parentSpanId || undefined,
            startMs: Number(BigInt(s.startTimeUnixNano) / 1_000_000n),
            durationMs: Number((BigInt(s.endTimeUnixNano) - BigInt(s.startTimeUnixNano)) / 1_000n) / 1000,
            status: s.status?.code ?? 0,
            attributes: flat(s.attributes),
          })),
        );
      });
    } catch (err) {
      line.error = (err as Error).message;
    }
    process.stdout.write(`${JSON.stringify(line)}\n`);
    res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
  });
});
server.listen(Number(port), host, () => process.stdout.write(`listening ${port}\n`));
const stop = (): void => void server.close(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
