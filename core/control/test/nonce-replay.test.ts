/**
 * Request nonces shared by two control-plane instances on one real PostgreSQL database
 * (auth/shared-nonces.ts): a signed request captured byte for byte from a real client and
 * accepted by instance A is refused by instance B as `nonce-replayed`; a fresh nonce is
 * accepted; the same request raced to both is accepted once; expired rows are pruned; and a
 * nonce that cannot be recorded (database unreachable, silent, or an error) refuses the request with
 * `STORAGE_FAILED` (507) instead of accepting it. Prints the added latency per signed request.
 */
import { expect } from 'chai';
import { createPrivateKey } from 'node:crypto';
import { request } from 'node:http';
import { createServer, type Socket } from 'node:net';
import { join } from 'node:path';
import { generateEd25519KeyPair } from '@rustynet/daemon';
import { ControlClient, signRequest } from '../src/index.js';
import { SharedNonceTable } from '../src/auth/shared-nonces.js';
import { openDatabaseSpec, type OpenDatabase } from '../src/db/open.js';
import { postgresHandle } from '../src/db/open-postgres.js';
import { createKey, ENGINES, freshDatabase, startHarness, twoInstances, type Harness } from './helpers.js';
import { pgCluster } from './pg-cluster.js';
import { sendRaw, startTcpTap, type RawReply } from './tcp-tap.js';

const ENDPOINTS = { endpoints: [{ host: '198.18.0.7', port: 51820 }] };

function portOf(url: string): number {
  return Number(new URL(url).port);
}

function reasonOf(r: RawReply): string {
  const e = (r.body as { error?: { code?: string; details?: { reason?: string } } }).error;
  return `${r.status} ${e?.code ?? ''}:${e?.details?.reason ?? ''}`;
}

/** Enrols a new node through `url`; returns its identity key PEM. */
async function enrolNode(h: Harness, name: string): Promise<string> {
  const pem = generateEd25519KeyPair().privateKeyPem;
  await new ControlClient({ url: h.server.url, identityKeyPem: pem }).enrol({ authKey: await createKey(h.admin), name, keys: {} });
  return pem;
}

async function waitKnown(h: Harness, nodes: number): Promise<void> {
  for (let i = 0; i < 500 && h.server.service.snapshot.nodes.length < nodes; i++) await new Promise((r) => setTimeout(r, 10));
  expect(h.server.service.snapshot.nodes).to.have.length(nodes);
}

/** A signed `POST /v1/node` sent with node:http (status and JSON body). */
function signedReport(port: number, pem: string, identityKey: string, headers?: Record<string, string>): Promise<RawReply> {
  const body = JSON.stringify(ENDPOINTS);
  const h = headers ?? signRequest(createPrivateKey(pem), identityKey, 'POST', '/v1/node', body);
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port, method: 'POST', path: '/v1/node', headers: { ...h, 'content-type': 'application/json' } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

function stats(ms: number[]): string {
  const s = [...ms].sort((x, y) => x - y);
  const at = (q: number): string => (s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? 0).toFixed(2);
  return `median ${at(0.5)} ms, p95 ${at(0.95)} ms (n=${s.length})`;
}

(ENGINES.includes('postgres') ? describe : describe.skip)('control: request nonces shared by two instances (PostgreSQL)', function () {
  this.timeout(60_000);
  const stops: Array<() => Promise<void>> = [];
  afterEach(async () => {
    await Promise.all(stops.splice(0).map((s) => s()));
  });

  it('a captured signed report and poll accepted by A are refused by B (nonce-replayed); fresh nonces pass', async () => {
    const [a, b] = await twoInstances();
    stops.push(a.stop, b.stop);
    const pem = await enrolNode(a, 'web-1');
    await waitKnown(b, 1);
    const tap = await startTcpTap(portOf(a.server.url));
    stops.push(tap.cut);
    // A real client's endpoint report, captured on its way to A.
    const client = new ControlClient({ url: `http://127.0.0.1:${tap.port}`, identityKeyPem: pem });
    await client.report(ENDPOINTS);
    expect(tap.captured).to.have.length(1);
    const report = tap.captured[0];
    expect(report.toString('latin1')).to.match(/^POST \/v1\/node HTTP\/1\.1\r\n/);
    expect(reasonOf(await sendRaw(portOf(b.server.url), report))).to.equal('401 AUTH_FAILED:nonce-replayed');
    expect(reasonOf(await sendRaw(portOf(a.server.url), report))).to.equal('401 AUTH_FAILED:nonce-replayed');
    // A poll captured the same way (its own tap: a fresh connection, one request on it).
    const pollTap = await startTcpTap(portOf(a.server.url));
    stops.push(pollTap.cut);
    const poller = new ControlClient({ url: `http://127.0.0.1:${pollTap.port}`, identityKeyPem: pem });
    expect(await poller.poll(0)).to.have.property('signature');
    const poll = pollTap.captured[0];
    expect(poll.toString('latin1')).to.match(/^GET \/v1\/netmap\?after=0 HTTP\/1\.1\r\n/);
    expect(reasonOf(await sendRaw(portOf(b.server.url), poll))).to.equal('401 AUTH_FAILED:nonce-replayed');
    // Fresh nonces from the same node: accepted by B.
    const viaB = new ControlClient({ url: b.server.url, identityKeyPem: pem });
    expect(await viaB.report(ENDPOINTS)).to.be.a('number');
    expect(await viaB.poll(0)).to.have.property('signature');
  });

  it('the same signed request raced to both instances 20 times: exactly one acceptance each time', async () => {
    const [a, b] = await twoInstances();
    stops.push(a.stop, b.stop);
    const pem = await enrolNode(a, 'web-1');
    await waitKnown(b, 1);
    const key = createPrivateKey(pem);
    const identityKey = a.server.service.snapshot.nodes[0]?.identityKey ?? '';
    for (let i = 0; i < 20; i++) {
      const headers = signRequest(key, identityKey, 'POST', '/v1/node', JSON.stringify(ENDPOINTS));
      const replies = await Promise.all([a, b].map((h) => signedReport(portOf(h.server.url), pem, identityKey, headers)));
      const statuses = replies.map((r) => r.status).sort();
      expect(statuses, replies.map(reasonOf).join(', ')).to.deep.equal([200, 401]);
      expect(replies.map(reasonOf)).to.include('401 AUTH_FAILED:nonce-replayed');
    }
  });

  it('expired rows are pruned in bounded batches; live ones stay', async () => {
    const url = (await freshDatabase('postgres')) as string;
    const database: OpenDatabase = await openDatabaseSpec(url);
    stops.push(() => database.close());
    const now = Date.now();
    const rows = Array.from({ length: 2_500 }, (_, i) => ({ identity_key: 'old', nonce: `n${i}`, expires_at: now - 1 - i }));
    for (let i = 0; i < rows.length; i += 500)
      await database.db
        .insertInto('request_nonces')
        .values(rows.slice(i, i + 500))
        .execute();
    const table = new SharedNonceTable(database.db, { pruneEveryMs: 0, pruneBatch: 1_000 });
    const count = async (): Promise<number> =>
      Number(
        (
          await database.db
            .selectFrom('request_nonces')
            .select((eb) => eb.fn.countAll().as('n'))
            .executeTakeFirstOrThrow()
        ).n,
      );
    const remaining: number[] = [];
    for (let i = 0; i < 4; i++) {
      expect(await table.record('live', `fresh-nonce-${i}`, now)).to.equal(true);
      await table.idle();
      remaining.push(await count());
    }
    // Each record prunes at most one batch; a full batch lets the next record prune again.
    expect(remaining).to.deep.equal([1_501, 502, 3, 4]);
    expect(await table.record('live', 'fresh-nonce-0', now)).to.equal(false);
    await table.close();
  });

  it('fail closed: B cannot reach the database -> STORAGE_FAILED 507, not accepted; the client fails over; B recovers', async () => {
    const cluster = await pgCluster();
    const url = (await freshDatabase('postgres')) as string;
    const tap = await startTcpTap(cluster.port);
    stops.push(tap.cut);
    const viaTap = new URL(url);
    viaTap.port = String(tap.port);
    const a = await startHarness({ engine: 'postgres', database: url, syncIntervalMs: 200 });
    stops.push(a.stop);
    const b = await startHarness({
      engine: 'postgres',
      database: viaTap.toString(),
      keyFile: join(a.dir, 'control-plane.key'),
      syncIntervalMs: 200,
    });
    stops.push(b.stop);
    const pem = await enrolNode(a, 'web-1');
    await waitKnown(b, 1);
    const identityKey = a.server.service.snapshot.nodes[0]?.identityKey ?? '';
    await tap.cut();
    const headers = signRequest(createPrivateKey(pem), identityKey, 'POST', '/v1/node', JSON.stringify(ENDPOINTS));
    const refused = await signedReport(portOf(b.server.url), pem, identityKey, headers);
    expect(reasonOf(refused)).to.equal('507 STORAGE_FAILED:nonce-unrecorded');
    // A poll is served from memory otherwise: it too is refused, and a client listing both fails over.
    const both = new ControlClient({ url: [b.server.url, a.server.url], identityKeyPem: pem });
    expect(await both.poll(0)).to.have.property('signature');
    // Never recorded: the refused request is still unused, so A (reachable database) accepts it once.
    expect((await signedReport(portOf(a.server.url), pem, identityKey, headers)).status).to.equal(200);
    await tap.restore();
    expect((await signedReport(portOf(b.server.url), pem, identityKey)).status).to.equal(200);
    expect(reasonOf(await signedReport(portOf(b.server.url), pem, identityKey, headers))).to.equal('401 AUTH_FAILED:nonce-replayed');
  });

  it('fail closed on a database error (no request_nonces table): STORAGE_FAILED naming the reason', async () => {
    const url = (await freshDatabase('postgres')) as string; // never migrated
    const handle = postgresHandle(url, 2);
    stops.push(() => handle.db.destroy());
    const table = new SharedNonceTable(handle.db);
    let err: unknown;
    await table.record('k', 'nonce-nonce-nonce').catch((e: unknown) => (err = e));
    expect(err).to.have.property('code', 'STORAGE_FAILED');
    expect(err).to.have.nested.property('details.reason', 'nonce-unrecorded');
    expect(String(err)).to.match(/request_nonces/);
  });

  it('fail closed on a database that does not answer: STORAGE_FAILED at the deadline', async () => {
    const held: Socket[] = [];
    const silent = createServer((s) => held.push(s)); // accepts, never answers
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const handle = postgresHandle(`postgres://postgres@127.0.0.1:${(silent.address() as { port: number }).port}/db`, 1);
    stops.push(async () => {
      for (const s of held) s.destroy();
      await handle.db.destroy();
      await new Promise((r) => silent.close(r));
    });
    const table = new SharedNonceTable(handle.db, { timeoutMs: 300 });
    let err: unknown;
    await table.record('k', 'nonce-nonce-nonce').catch((e: unknown) => (err = e));
    expect(err).to.have.property('code', 'STORAGE_FAILED');
    expect(err).to.have.nested.property('details.reason', 'nonce-unrecorded');
    expect(String(err)).to.match(/within 300 ms/);
  });

  it('added latency per signed request (printed, not asserted)', async () => {
    const url = (await freshDatabase('postgres')) as string;
    const pgH = await startHarness({ engine: 'postgres', database: url });
    stops.push(pgH.stop);
    const lite = await startHarness({ engine: 'sqlite' });
    stops.push(lite.stop);
    const database = await openDatabaseSpec(url);
    stops.push(() => database.close());
    const table = new SharedNonceTable(database.db);
    const record: number[] = [];
    for (let i = 0; i < 300; i++) {
      const t0 = performance.now();
      await table.record('bench', `bench-nonce-${i}-xxxxxxxx`);
      record.push(performance.now() - t0);
    }
    const polls = async (h: Harness): Promise<number[]> => {
      const pem = await enrolNode(h, 'bench');
      const c = new ControlClient({ url: h.server.url, identityKeyPem: pem });
      const out: number[] = [];
      for (let i = 0; i < 200; i++) {
        const t0 = performance.now();
        await c.poll(0);
        out.push(performance.now() - t0);
      }
      return out;
    };
    const pgPolls = await polls(pgH);
    const litePolls = await polls(lite);
    console.log(`      nonce INSERT ... ON CONFLICT on PostgreSQL (the added work): ${stats(record)}`);
    console.log(`      signed poll end to end, PostgreSQL instance (memory + shared check): ${stats(pgPolls)}`);
    console.log(`      signed poll end to end, SQLite instance (memory check only):         ${stats(litePolls)}`);
    expect(record).to.have.length(300);
  });
});
