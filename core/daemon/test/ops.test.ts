import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { startOpsHttpServer } from '../src/api/ops-http.js';
import { healthOf, readinessOf } from '../src/local/ops-endpoint.js';
import { PeerMetrics } from '../src/local/peer-metrics.js';
import type { DaemonStatus, PeerStatus } from '../src/local/status-types.js';
import { createHostServices } from '../src/services/host-services.js';
import { createLogger, withoutBoundKeys } from '../src/services/logger.js';
import { captureStream, tmpDir } from './helpers.js';

/** The keys of one JSON text object in order, repeats included (JSON.parse would hide them). */
function rawKeys(line: string): string[] {
  const keys: string[] = [];
  let depth = 0;
  for (const m of line.matchAll(/("(?:[^"\\]|\\.)*")\s*(:)?|[{}[\]]/g)) {
    if (m[0] === '{' || m[0] === '[') depth++;
    else if (m[0] === '}' || m[0] === ']') depth--;
    else if (m[2] && depth === 1) keys.push(JSON.parse(m[1]) as string);
  }
  return keys;
}

function peer(id: string, over: Partial<PeerStatus> = {}): PeerStatus {
  return { id, endpoint: null, path: 'direct', allowedIps: [], lastHandshakeAt: null, rxBytes: 10, txBytes: 20, ...over };
}

function status(over: Partial<DaemonStatus>): DaemonStatus {
  return {
    node: 'a',
    state: 'up',
    addresses: ['100.64.0.1/32'],
    netmap: { version: 3, appliedAt: new Date().toISOString(), expiresAt: new Date(Date.now() + 60_000).toISOString(), expired: false },
    lastRejection: null,
    backend: null,
    peers: [],
    plugins: [],
    policy: null,
    dns: null,
    dataPlane: { state: 'ok', reason: null, restores: { ok: 0, failed: 0 }, lastRestore: null },
    ...over,
  };
}

describe('log lines carry each key once', () => {
  it('a record or child repeating a bound key (pid, plugin, component) writes it once', () => {
    const cap = captureStream();
    const log = createLogger({ level: 'info', stream: cap.stream });
    const plugin = log.child({ plugin: '@rustynet/x' });
    plugin.child({ plugin: '@rustynet/x', device: 'd0' }).info({ pid: process.pid }, 'same values');
    plugin.child({ component: 'dns' }).child({ component: 'dns-inner' }).info({ pid: 4242, plugin: '@rustynet/other' }, 'new values');
    for (const line of cap.lines()) {
      const keys = rawKeys(line);
      expect(keys.length, line).to.equal(new Set(keys).size);
    }
    const [same, fresh] = cap
      .text()
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(same).to.include({ pid: process.pid, plugin: '@rustynet/x', device: 'd0' });
    expect(fresh).to.include({ pid: process.pid, pid_2: 4242, plugin: '@rustynet/x', plugin_2: '@rustynet/other', component: 'dns-inner' });
  });

  it('withoutBoundKeys drops equal values and renames different ones', () => {
    expect(withoutBoundKeys({ a: 1, b: 2, c: 3 }, { a: 1, b: 5 })).to.deep.equal({ b_2: 2, c: 3 });
    const f = { x: 1 };
    expect(withoutBoundKeys(f, { y: 2 })).to.equal(f);
  });

  it('log.pretty writes readable lines through pino-pretty, secrets still redacted', async () => {
    const dir = tmpDir();
    const file = join(dir, 'pretty.log');
    const log = createLogger({ level: 'info', file, pretty: true });
    log.info({ peer: 'b', secret: 's3cr3t' }, 'peer added');
    // pino-pretty is a transform stream: wait (bounded) until the line reached the file.
    let text = '';
    for (let i = 0; i < 100 && !text.includes('peer added'); i++) {
      await new Promise((r) => setTimeout(r, 20));
      text = readFileSync(file, 'utf8');
    }
    expect(text).to.match(/INFO.*peer added/);
    expect(text).to.include('peer: "b"');
    expect(text).not.to.include('s3cr3t');
    expect(text.trim().startsWith('{')).to.equal(false);
  });
});

describe('metric names', () => {
  it('process metrics are rustynet_process_* (no doubled prefix) and rustynet_nodejs_*', async () => {
    const s = createHostServices({ stateDir: tmpDir(), logLevel: 'silent' });
    const text = await s.metrics.registry.metrics();
    expect(text).to.match(/^rustynet_process_cpu_seconds_total /m);
    expect(text).to.match(/^rustynet_nodejs_eventloop_lag_seconds /m);
    expect(text).not.to.include('process_process_');
  });
});

describe('per-peer metrics', () => {
  it('labels the first N peers by id, sums the rest under _other, and drops peers that left', async () => {
    const reg = new Registry();
    const pm = new PeerMetrics(reg, 2);
    const now = Date.parse('2026-01-01T00:01:00Z');
    pm.update(
      [
        peer('c', { rxBytes: 5, txBytes: 6 }),
        peer('a', { lastHandshakeAt: '2026-01-01T00:00:30.000Z' }),
        peer('b', { path: 'relay' }),
        peer('d', { rxBytes: 7 }),
      ],
      now,
    );
    let text = await reg.metrics();
    expect(text).to.include('rustynet_peer_rx_bytes{peer="a"} 10');
    expect(text).to.include('rustynet_peer_rx_bytes{peer="b"} 10');
    expect(text).to.include('rustynet_peer_rx_bytes{peer="_other"} 12');
    expect(text).to.include('rustynet_peer_tx_bytes{peer="_other"} 26');
    expect(text).not.to.include('peer="c"');
    expect(text).to.include('rustynet_peer_handshake_age_seconds{peer="a"} 30');
    expect(text).not.to.include('rustynet_peer_handshake_age_seconds{peer="b"}');
    expect(text).to.include('rustynet_peer_path{peer="b",path="relay"} 1');
    expect(text).to.include('rustynet_peer_path{peer="b",path="direct"} 0');
    expect(text).to.include('rustynet_peer_label_overflow 2');
    pm.update([peer('b')], now);
    text = await reg.metrics();
    expect(text).not.to.include('peer="a"');
    expect(text).not.to.include('{peer="_other"}');
    expect(text).to.include('rustynet_peer_label_overflow 0');
  });

  it('a second PeerMetrics on the same registry reuses the series', () => {
    const reg = new Registry();
    new PeerMetrics(reg, 1);
    expect(() => new PeerMetrics(reg, 1)).not.to.throw();
  });
});

describe('health and readiness', () => {
  it('readiness needs up, an unexpired netmap and no restore in progress; health only a live, non-failed daemon', () => {
    expect(readinessOf(status({}), true).ok).to.equal(true);
    expect(readinessOf(status({ state: 'down' }), true).ok).to.equal(false);
    expect(readinessOf(status({ netmap: null }), true).ok).to.equal(false);
    const expired = status({});
    expired.netmap = { ...(expired.netmap as NonNullable<DaemonStatus['netmap']>), expired: true };
    expect(readinessOf(expired, true).ok).to.equal(false);
    expect(
      readinessOf(status({ dataPlane: { state: 'restoring', reason: null, restores: { ok: 0, failed: 0 }, lastRestore: null } }), true).ok,
    ).to.equal(false);
    expect(readinessOf(status({}), false).ok).to.equal(false);
    expect(healthOf(status({ state: 'down' }), true).ok).to.equal(true);
    expect(healthOf(status({ state: 'failed' }), true).ok).to.equal(false);
    expect(healthOf(status({}), false).ok).to.equal(false);
  });

  it('the listener answers /metrics, /healthz 200, /readyz 503, 404 elsewhere, 405 for POST; a taken port is a named error', async () => {
    const srv = await startOpsHttpServer(
      { port: 0 },
      {
        metrics: () => Promise.resolve({ contentType: 'text/plain; version=0.0.4', body: 'x_total 1\n' }),
        healthz: () => ({ ok: true }),
        readyz: () => ({ ok: false, detail: { state: 'down' } }),
      },
      createLogger({ level: 'silent' }),
    );
    try {
      expect(srv.address.host).to.equal('127.0.0.1');
      const base = `http://127.0.0.1:${srv.address.port}`;
      const m = await fetch(`${base}/metrics`);
      expect([m.status, await m.text()]).to.deep.equal([200, 'x_total 1\n']);
      const h = await fetch(`${base}/healthz`);
      expect([h.status, await h.json()]).to.deep.equal([200, { status: 'ok' }]);
      const r = await fetch(`${base}/readyz`);
      expect([r.status, await r.json()]).to.deep.equal([503, { status: 'fail', state: 'down' }]);
      expect((await fetch(`${base}/other`)).status).to.equal(404);
      expect((await fetch(`${base}/metrics`, { method: 'POST' })).status).to.equal(405);
      const err = await startOpsHttpServer(
        { port: srv.address.port },
        { metrics: () => Promise.resolve({ contentType: '', body: '' }), healthz: () => ({ ok: true }), readyz: () => ({ ok: true }) },
      ).then(
        () => undefined,
        (e: unknown) => e as { code: string; field: string },
      );
      expect(err).to.include({ code: 'INVALID_INPUT', field: 'metrics.listen' });
    } finally {
      await srv.close();
    }
  });
});
