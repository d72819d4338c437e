/**
 * Integration test (root): OpenTelemetry spans of a relayed mesh reach a real OTLP/HTTP receiver.
 *
 * A 3-node mesh of real `rustynetd` processes (WireGuard backend) plus a relay host, as in
 * relay-fallback.int.test.ts. Nodes a and b are configured with `tracing: { exporter: 'otlp',
 * endpoint: 'http://127.0.0.1:4318' }`; inside each of their namespaces a small node:http OTLP
 * receiver (otlp-receiver.ts) collects the exporter's JSON POSTs. The direct path a<->b is blocked,
 * then unblocked. Asserted: each of a and b exported `relay.register` (registered), and a
 * `path.switch` to the relay and one back (switched) with a `relay.session.setup` child; no span
 * attribute carries the node's keys. Node c (no tracing) exports nothing. Prints counts and timings.
 */
import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TestHost } from '@rustynet/conformance-kit/harness';
import { Mesh, checkPrerequisites, sleep } from '@rustynet/testbed';
import { REPO_ROOT, created, describeEachRelayBackend } from './mesh-fixture.js';

const RECEIVER = fileURLToPath(new URL('./otlp-receiver.js', import.meta.url));
const OTLP_PORT = 4318;
const TRACED = ['a', 'b'];

interface ReceivedSpan {
  name: string;
  node: string;
  service: string;
  spanId: string;
  parentSpanId?: string;
  startMs: number;
  durationMs: number;
  status: number;
  attributes: Record<string, unknown>;
}
interface Post {
  at: number;
  url: string;
  type: string;
  spans?: ReceivedSpan[];
  error?: string;
}

/** A receiver in one namespace and the POSTs it printed. */
interface Receiver {
  posts: Post[];
  stop(): Promise<void>;
}

async function startReceiver(host: TestHost, id: string): Promise<Receiver> {
  const child = host.spawn(process.execPath, [RECEIVER, '127.0.0.1', String(OTLP_PORT)], {
    stdin: 'ignore',
    stdout: 'pipe',
    stderr: 'pipe',
    buffer: false,
  });
  const posts: Post[] = [];
  let text = '';
  let ready!: () => void;
  const listening = new Promise<void>((r) => (ready = r));
  child.stdout?.on('data', (d: Buffer) => {
    text += d.toString();
    let nl: number;
    while ((nl = text.indexOf('\n')) >= 0) {
      const line = text.slice(0, nl);
      text = text.slice(nl + 1);
      if (line.startsWith('listening')) ready();
      else if (line.trim() !== '') posts.push(JSON.parse(line) as Post);
    }
  });
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    listening,
    new Promise((_r, reject) => (timer = setTimeout(() => reject(new Error(`OTLP receiver in ${id} did not listen`)), 10_000))),
  ]);
  clearTimeout(timer);
  return {
    posts,
    stop: async () => {
      child.kill('SIGTERM');
      await Promise.resolve(child).catch(() => undefined);
    },
  };
}

const spansOf = (r: Receiver): ReceivedSpan[] => r.posts.flatMap((p) => p.spans ?? []);

await describeEachRelayBackend(
  ['@rustynet/backend-wireguard'],
  (backend) => `tracing: spans of a relayed mesh exported over OTLP/HTTP (${backend})`,
  function (backend) {
    this.timeout(120_000);
    let mesh: Mesh | undefined;
    const receivers: Record<string, Receiver> = {};
    const times: Record<string, number> = {};
    const saved = { delay: process.env['OTEL_BSP_SCHEDULE_DELAY'], endpoint: process.env['OTEL_EXPORTER_OTLP_ENDPOINT'] };
    const m = (): Mesh => created(mesh);

    before(async function () {
      const problems = checkPrerequisites([backend], {});
      if (problems.length > 0) throw new Error(`prerequisites: ${problems.join('; ')}`);
      // The daemons inherit it: batches every 500 ms instead of 5 s, so arrival can be timed.
      process.env['OTEL_BSP_SCHEDULE_DELAY'] = '500';
      // Also inherited: the relay server (no config file) exports by it; node c's config says
      // `exporter: 'none'`, which beats it.
      process.env['OTEL_EXPORTER_OTLP_ENDPOINT'] = `http://127.0.0.1:${OTLP_PORT}`;
      const tracing = { exporter: 'otlp', endpoint: `http://127.0.0.1:${OTLP_PORT}` };
      mesh = await Mesh.create({
        backends: [backend],
        cwd: REPO_ROOT,
        relay: true,
        logLevel: 'info',
        namePrefix: `otel-${randomBytes(3).toString('hex')}`,
        nodeConfig: { ...Object.fromEntries(TRACED.map((id) => [id, { tracing }])), c: { tracing: { exporter: 'none' } } },
      });
      await mesh.publish(await mesh.sign(mesh.netmap(1)));
      for (const id of TRACED) receivers[id] = await startReceiver(mesh.node(id).host, id);
      receivers['relay'] = await startReceiver(mesh.relayHost!, 'relay');
      const t0 = Date.now();
      await mesh.startDaemons(backend, 1);
      times['daemonsUpMs'] = Date.now() - t0;
    });

    after(async () => {
      if (saved.delay === undefined) delete process.env['OTEL_BSP_SCHEDULE_DELAY'];
      else process.env['OTEL_BSP_SCHEDULE_DELAY'] = saved.delay;
      if (saved.endpoint === undefined) delete process.env['OTEL_EXPORTER_OTLP_ENDPOINT'];
      else process.env['OTEL_EXPORTER_OTLP_ENDPOINT'] = saved.endpoint;
      await Promise.all(Object.values(receivers).map((r) => r.stop()));
      await mesh?.destroy();
      if (Object.keys(times).length > 0) console.log(`      measured: ${JSON.stringify(times)}`);
    });

    it('relay.register (registered, mode start) arrives from a and b while they run', async () => {
      const mesh = m();
      const t0 = Date.now();
      for (const id of TRACED) {
        while (!spansOf(receivers[id]).some((s) => s.name === 'relay.register') && Date.now() - t0 < 15_000) await sleep(100);
        const reg = spansOf(receivers[id]).filter((s) => s.name === 'relay.register');
        expect(reg.length, `relay.register spans from ${id}`).to.be.at.least(1);
        expect(reg[0]).to.deep.include({ node: id, status: 0 });
        expect(reg[0].attributes).to.deep.include({
          'rustynet.node.id': id,
          'rustynet.relay.carrier': 'udp',
          'rustynet.relay.register_mode': 'start',
          'rustynet.outcome': 'registered',
        });
        expect(reg[0].attributes['rustynet.relay.id']).to.equal(mesh.netmap(1).relays?.[0]?.id);
        const post = receivers[id].posts.find((p) => p.spans?.some((s) => s.name === 'relay.register'));
        expect(post?.url).to.equal('/v1/traces');
        expect(post?.type).to.equal('application/json');
      }
      times['registerSpanArrivalAfterUpMs'] = Date.now() - t0;
    });

    it('the relay server (OTEL_EXPORTER_OTLP_ENDPOINT) exports relay.server.register for every node; c (exporter none) exports nothing', async () => {
      const mesh = m();
      const t0 = Date.now();
      const nodes = (): unknown[] =>
        spansOf(receivers['relay'])
          .filter((s) => s.name === 'relay.server.register' && s.attributes['rustynet.outcome'] === 'registered')
          .map((s) => s.attributes['rustynet.node.id']);
      while (mesh.nodes.some((n) => !nodes().includes(n.id)) && Date.now() - t0 < 15_000) await sleep(100);
      expect([...new Set(nodes())].sort(), 'nodes registered, as the relay traced them').to.deep.equal(mesh.nodes.map((n) => n.id).sort());
      const one = spansOf(receivers['relay']).find((s) => s.name === 'relay.server.register')!;
      expect(one.service).to.equal('rustynet-relay');
      expect(one.attributes['rustynet.relay.id']).to.equal(mesh.netmap(1).relays?.[0]?.id);
      expect(await readFile(mesh.node('c').outFile, 'utf8'), "c's output").to.not.include('tracing on');
    });

    it('direct a<->b blocked, then unblocked: path.switch to relay and back from both, with relay.session.setup children', async () => {
      const mesh = m();
      await mesh.waitForPath(
        [
          ['a', 'b'],
          ['b', 'a'],
        ],
        'direct',
        20_000,
      );
      const tBlock = await mesh.blockDirect('a', 'b');
      const tRelay = await mesh.waitForPath(
        [
          ['a', 'b'],
          ['b', 'a'],
        ],
        'relay',
        15_000,
      );
      times['blockToRelayMs'] = tRelay - tBlock;
      const isSwitch = (to: string) => (s: ReceivedSpan) => s.name === 'path.switch' && s.attributes['rustynet.path.to'] === to;
      const t1 = Date.now();
      while (TRACED.some((id) => !spansOf(receivers[id]).some(isSwitch('relay'))) && Date.now() - t1 < 10_000) await sleep(50);
      times['relaySwitchSpanArrivalMs'] = Date.now() - tRelay;
      const tUnblock = await mesh.unblockDirect('a', 'b');
      const tDirect = await mesh.waitForPath(
        [
          ['a', 'b'],
          ['b', 'a'],
        ],
        'direct',
        30_000,
      );
      times['unblockToDirectMs'] = tDirect - tUnblock;
      for (const [id, peer] of [
        ['a', 'b'],
        ['b', 'a'],
      ] as const) {
        const spans = spansOf(receivers[id]);
        const toRelay = spans.filter((s) => isSwitch('relay')(s) && s.attributes['rustynet.outcome'] === 'switched');
        expect(toRelay.length, `path.switch to relay from ${id}`).to.be.at.least(1);
        expect(toRelay[0].attributes).to.deep.include({ 'rustynet.peer.id': peer, 'rustynet.path.from': 'direct' });
        expect(String(toRelay[0].attributes['rustynet.path.endpoint'])).to.match(/^127\.0\.0\.1:\d+$/);
        expect(toRelay[0].startMs, 'switch span starts after the block').to.be.at.least(tBlock - 5);
        times[`${id}BlockToSwitchSpanStartMs`] = toRelay[0].startMs - tBlock;
        times[`${id}SwitchSpanMs`] = toRelay[0].durationMs;
        const setup = spans.filter((s) => s.name === 'relay.session.setup' && s.parentSpanId === toRelay[0].spanId);
        expect(
          setup.map((s) => s.attributes['rustynet.peer.id']),
          `relay.session.setup under ${id}'s switch`,
        ).to.deep.equal([peer]);
      }
      const t2 = Date.now();
      while (TRACED.some((id) => !spansOf(receivers[id]).some(isSwitch('direct'))) && Date.now() - t2 < 10_000) await sleep(50);
      for (const id of TRACED) {
        const back = spansOf(receivers[id]).filter((s) => isSwitch('direct')(s) && s.attributes['rustynet.outcome'] === 'switched');
        expect(back.length, `path.switch back to direct from ${id}`).to.be.at.least(1);
        expect(back[0].attributes['rustynet.path.from']).to.equal('relay');
      }
    });

    it("the collector gone (b's receiver stopped): a<->b still switch to the relay and back; b logs the export failure as a warning", async () => {
      const mesh = m();
      const b = mesh.node('b');
      expect(await readFile(b.outFile, 'utf8'), "b's start-up line").to.include(
        `rustynetd: tracing on {"exporter":"otlp","endpoint":"http://127.0.0.1:${OTLP_PORT}/v1/traces","source":"config"}`,
      );
      await receivers['b'].stop();
      const before = receivers['a'].posts.length;
      const pairs: Array<[string, string]> = [
        ['a', 'b'],
        ['b', 'a'],
      ];
      const tBlock = await mesh.blockDirect('a', 'b');
      times['collectorDownBlockToRelayMs'] = (await mesh.waitForPath(pairs, 'relay', 15_000)) - tBlock;
      const tUnblock = await mesh.unblockDirect('a', 'b');
      times['collectorDownUnblockToDirectMs'] = (await mesh.waitForPath(pairs, 'direct', 30_000)) - tUnblock;
      // The exporter retries with back-off before it gives a batch up; then the warning.
      const t0 = Date.now();
      let out = '';
      while (!/rustynetd: (warn|error): tracing: /.test(out) && Date.now() - t0 < 30_000) {
        await sleep(250);
        out = await readFile(b.outFile, 'utf8');
      }
      times['collectorDownWarningAfterMs'] = Date.now() - t0;
      expect(out, "b's output").to.match(/rustynetd: (warn|error): tracing: /);
      console.log(
        `      b: ${out
          .split('\n')
          .find((l) => /rustynetd: (warn|error): tracing: /.test(l))
          ?.slice(0, 200)}`,
      );
      expect(mesh.daemonPids()['b'], "b's daemon still runs").to.be.a('number');
      expect((await mesh.status('b')).state).to.equal('up');
      expect(receivers['a'].posts.length, "a's collector still receives").to.be.greaterThan(before);
    });

    it('a clean stop exits 0 with tracing on; no span carries key material; every POST was OTLP JSON', async () => {
      const mesh = m();
      const tStop = Date.now();
      const exits = await mesh.stopDaemons();
      for (const [id, e] of Object.entries(exits)) expect(e, `exit of rustynetd on ${id}`).to.deep.equal({ code: 0, signal: null });
      const secrets: string[] = [];
      for (const n of mesh.nodes) {
        secrets.push(n.identityKey, ...Object.values(n.keys));
        secrets.push((await readFile(join(n.keyDir, 'identity.key'), 'utf8')).trim());
      }
      const counts: Record<string, Record<string, number>> = {};
      for (const id of [...TRACED, 'relay']) {
        const r = receivers[id];
        expect(
          r.posts.filter((p) => p.error !== undefined),
          `non-OTLP POSTs to ${id}'s receiver`,
        ).to.deep.equal([]);
        for (const s of spansOf(r)) {
          counts[id] ??= {};
          counts[id][s.name] = (counts[id][s.name] ?? 0) + 1;
          const text = JSON.stringify(s.attributes);
          expect(text.includes('PRIVATE KEY'), `${s.name} from ${id}`).to.equal(false);
          for (const k of secrets) expect(text.includes(k), `${s.name} from ${id} carries key material`).to.equal(false);
          for (const name of Object.keys(s.attributes)) expect(name).to.not.match(/(key|signature|token|secret)$/i);
        }
      }
      const posts = [...TRACED, 'relay'].map(
        (id) => `${id}=${receivers[id].posts.length} (${receivers[id].posts.filter((p) => p.at >= tStop).length} during the stop)`,
      );
      console.log(`      spans received: ${JSON.stringify(counts)}; POSTs: ${posts.join(', ')}`);
      await Promise.all(Object.values(receivers).map((r) => r.stop()));
      expect((await mesh.stopRelayServer())?.exit, 'exit of the relay server').to.deep.equal({ code: 0, signal: null });
      expect(await mesh.leftovers(), 'left behind in the namespaces').to.deep.equal([]);
    });
  },
);
