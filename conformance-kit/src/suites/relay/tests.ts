import { createHash, randomBytes } from 'node:crypto';
import type { Endpoint, RelayCapabilities } from '@rustynet/plugin-api';
import type { KitTest } from '../define.js';
import type { StepContext } from '../step-context.js';
import type { ReceivedLog } from './agent-client.js';
import {
  BACKEND_PORT,
  IMPOSTOR,
  RATE_BACKEND_PORT,
  RATE_LIMITS,
  RELAY_ID,
  SPARE_RELAY_PORT,
  STRANGER,
  type ClientNode,
  type RelayFixture,
} from './fixture.js';

type T = KitTest<RelayFixture>;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const needServer = (fx: RelayFixture): string | undefined => fx.noServerReason;
const LOOPBACK_BACKEND: Endpoint = { host: '127.0.0.1', port: BACKEND_PORT };

type EncodeData = (nodeId: string, payload: Uint8Array) => Buffer;
type EncodeHello = (size?: number) => Buffer;
type EncodeKeepalive = (seq: number, ack?: boolean) => Buffer;
type EncodeRegister = (body: Uint8Array, nodeId: string, sig: Uint8Array) => Buffer;

function marker(tag: string): Buffer {
  return Buffer.from(`rn-relay-kit-${tag}-${randomBytes(6).toString('hex')}`);
}

function contains(log: ReceivedLog, needle: Buffer): boolean {
  return log.received.some((r) => r.data !== undefined && Buffer.from(r.data, 'base64').includes(needle));
}

/** Polls `read` until `done(value)` or `timeoutMs` passed; returns the last value read. */
async function waitFor<V>(read: () => Promise<V>, done: (v: V) => boolean, timeoutMs: number, pollMs = 100): Promise<V> {
  const end = Date.now() + timeoutMs;
  let v = await read();
  while (!done(v) && Date.now() < end) {
    await sleep(pollMs);
    v = await read();
  }
  return v;
}

/** Polls a counter until it did not change for `quietMs` (or `maxMs` passed). */
async function waitQuiet(read: () => Promise<number>, quietMs: number, maxMs: number): Promise<number> {
  const end = Date.now() + maxMs;
  let last = await read();
  let since = Date.now();
  while (Date.now() < end && Date.now() - since < quietMs) {
    await sleep(100);
    const v = await read();
    if (v !== last) {
      last = v;
      since = Date.now();
    }
  }
  return last;
}

let spareClient: Promise<ClientNode> | undefined;
let spareOwner: RelayFixture | undefined;
/** A client instance in host d for the state tests (reset to stopped). */
async function spare(fx: RelayFixture): Promise<ClientNode> {
  if (spareOwner !== fx) {
    spareOwner = fx;
    spareClient = fx.newClient('d', 'spare-d');
  }
  const c = await spareClient!;
  await fx.stop(c).catch(() => undefined);
  return c;
}

let dBackend: Promise<number> | undefined;
let dBackendOwner: RelayFixture | undefined;
/** A stand-in backend socket on 127.0.0.1:BACKEND_PORT in host d. */
function backendD(fx: RelayFixture): Promise<number> {
  if (dBackendOwner !== fx) {
    dBackendOwner = fx;
    dBackend = fx.agents.d.open('127.0.0.1', BACKEND_PORT, false).then((s) => s.id);
  }
  return dBackend!;
}

/**
 * A client in d registers as `nodeId` with `keyId`'s key. Whatever `start` does, no datagram
 * may travel between it and a (checked at both stand-in backends and in a capture on d's underlay).
 */
async function refusedRegistration(t: StepContext, fx: RelayFixture, nodeId: string, keyId: string, label: string): Promise<void> {
  const { a } = await fx.mainClients();
  const { aToB } = await fx.mainPaths();
  t.begin(`a opens a path to ${nodeId}`);
  const aToX = await t.ok(`openPath(${nodeId}) on a`, fx.openPath(a, nodeId, LOOPBACK_BACKEND));
  const client = await fx.newClient('d', label);
  const sockD = await backendD(fx);
  await fx.agents.d.received(sockD, true);
  await fx.agents.a.received(fx.backends.a, true);
  const cap = await fx.net.host('d').capture({ filter: ['udp'] });
  try {
    t.begin(`start as ${nodeId} signing with ${keyId === nodeId ? 'its own key (not in the allowlist)' : 'the wrong key'}`);
    let started = false;
    let startError: unknown;
    try {
      await fx.start(client, nodeId, { keyId, timeoutMs: fx.ms(3000) });
      started = true;
    } catch (err) {
      startError = err;
    }
    let xToA: Endpoint | undefined;
    if (started) {
      t.begin(`${nodeId} (start resolved) opens a path to a`);
      xToA = await fx.openPath(client, 'a', LOOPBACK_BACKEND).catch(() => undefined);
    }
    t.begin('send both ways, plus a control datagram a -> b');
    const m1 = marker('to-impostor');
    const m2 = marker('from-impostor');
    const ctl = marker('control');
    await fx.agents.a.send(fx.backends.a, aToX, [m1, m1, m1, m1, m1]);
    if (xToA) await fx.agents.d.send(sockD, xToA, [m2, m2, m2, m2, m2]);
    await fx.agents.a.send(fx.backends.a, aToB, [ctl]);
    const back = await waitFor(() => fx.agents.a.received(fx.backends.a), (l) => contains(l, ctl), fx.ms(3000));
    t.check(contains(back, ctl), 'the control datagram a -> b -> a did not come back: the relay path is not working, the test is inconclusive', 'control echo through the relay', 'no echo');
    await sleep(fx.ms(700));
    const pcap = await cap.stop();
    t.begin('nothing was carried');
    const dLog = await fx.agents.d.received(sockD);
    const aLog = await fx.agents.a.received(fx.backends.a);
    const startOutcome = started ? 'start resolved' : `start rejected: ${(startError as { code?: string })?.code ?? ''} ${(startError as Error)?.message ?? ''}`.trim();
    t.check(!pcap.includes(m1), `the relay forwarded a's datagrams to ${nodeId}'s address (seen on d's underlay) although its registration must be refused`, 'no datagram for the refused node reaches its host', { startOutcome, markerOnUnderlayOfD: true });
    t.check(!contains(dLog, m1), `a's datagrams reached the backend of the refused ${nodeId}`, 'nothing delivered', { startOutcome, delivered: true });
    t.check(!contains(aLog, m2), `datagrams of the refused ${nodeId} reached a's backend`, 'nothing delivered', { startOutcome, delivered: true });
  } finally {
    await cap.stop().catch(() => undefined);
    await fx.stop(client).catch(() => undefined);
    await a.plugin.call('closePath', [nodeId]).catch(() => undefined);
  }
}

/** Sends `count` datagrams of `size` bytes from the rate sender and counts what arrives. */
async function rateRun(
  fx: RelayFixture,
  t: StepContext,
  which: 'pps' | 'bps',
  count: number,
  size: number,
): Promise<{ received: number; bytes: number; elapsedS: number }> {
  const r = await fx.rateClients();
  const sender = which === 'pps' ? r.senderPps : r.senderBps;
  const senderId = which === 'pps' ? 'ra' : 'rc';
  t.begin(`open the paths ${senderId} -> rb and rb -> ${senderId}`);
  const be: Endpoint = { host: '127.0.0.1', port: RATE_BACKEND_PORT };
  const [toRb] = await Promise.all([fx.openPath(sender, 'rb', be), fx.openPath(r.receiver, senderId, be)]);
  await fx.agents.b.received(r.sockB, true);
  t.begin(`send ${count} datagrams of ${size} bytes as fast as possible`);
  const t0 = Date.now();
  await fx.agents.a.sendMany(r.sockA, toRb, count, size, which);
  t.begin('count what arrived');
  await waitQuiet(async () => (await fx.agents.b.received(r.sockB)).count, fx.ms(1200), fx.ms(10_000));
  const elapsedS = (Date.now() - t0) / 1000;
  const log = await fx.agents.b.received(r.sockB, true);
  const mine = log.received.filter((x) => x.data !== undefined ? Buffer.from(x.data, 'base64').subarray(0, 4).toString() === `${which}-` : x.len === size);
  return { received: mine.length, bytes: mine.reduce((s, x) => s + x.len, 0), elapsedS };
}

export const relayTests: T[] = [
  {
    id: 'relay.manifest.capabilities-match',
    title: 'the manifest declares ipv6 and maxDatagram, and capabilities() equals them on a fresh and on a running instance',
    async run(t, fx) {
      t.begin('manifest capabilities');
      const m = fx.manifest.capabilities as Partial<RelayCapabilities>;
      t.check(typeof m.ipv6 === 'boolean', 'the manifest must declare capabilities.ipv6 (boolean)', 'boolean', m.ipv6);
      t.check(Number.isInteger(m.maxDatagram) && m.maxDatagram! >= 1 && m.maxDatagram! <= 65507, 'the manifest must declare capabilities.maxDatagram (1..65507 bytes)', '1..65507', m.maxDatagram);
      const want = { ipv6: m.ipv6, maxDatagram: m.maxDatagram };
      t.begin('capabilities() of a fresh instance');
      const fresh = await fx.newClient('d', 'caps-fresh');
      const c1 = await t.ok('capabilities()', fresh.plugin.call<RelayCapabilities>('capabilities'));
      t.equal({ ipv6: c1.ipv6, maxDatagram: c1.maxDatagram }, want, 'capabilities() of a fresh instance differs from the manifest');
      await fresh.plugin.close();
      if (fx.noServerReason) return;
      t.begin('capabilities() of a running instance');
      const { a } = await fx.mainClients();
      const c2 = await t.ok('capabilities()', a.plugin.call<RelayCapabilities>('capabilities'));
      t.equal({ ipv6: c2.ipv6, maxDatagram: c2.maxDatagram }, want, 'capabilities() of a running instance differs from the manifest');
    },
  },
  {
    id: 'relay.state.not-running-before-start',
    title: 'openPath fails with NOT_RUNNING before start; stop before start succeeds',
    async run(t, fx) {
      const c = await spare(fx);
      t.begin('openPath before start');
      await t.rejects('openPath before start', fx.openPath(c, 'a', LOOPBACK_BACKEND), 'NOT_RUNNING');
      t.begin('stop before start');
      await t.ok('stop() before start', fx.stop(c));
    },
  },
  {
    id: 'relay.state.already-running',
    title: 'a second start fails with ALREADY_RUNNING and the instance keeps working',
    skipIf: needServer,
    async run(t, fx) {
      const c = await spare(fx);
      t.begin('first start');
      await t.ok('start', fx.start(c, 'd'));
      t.begin('second start');
      await t.rejects('second start', fx.start(c, 'd'), 'ALREADY_RUNNING');
      t.begin('still running: openPath works');
      const ep = await t.ok('openPath after the refused start', fx.openPath(c, 'a', LOOPBACK_BACKEND));
      t.check(typeof ep?.host === 'string' && Number.isInteger(ep?.port), 'openPath must return an endpoint', '{host, port}', ep);
      t.begin('stop');
      await t.ok('stop', fx.stop(c));
    },
  },
  {
    id: 'relay.state.stop-idempotent',
    title: 'stop twice in a row succeeds both times',
    skipIf: needServer,
    async run(t, fx) {
      const c = await spare(fx);
      t.begin('start');
      await t.ok('start', fx.start(c, 'd'));
      t.begin('first stop');
      await t.ok('first stop', fx.stop(c));
      t.begin('second stop');
      await t.ok('second stop', fx.stop(c));
    },
  },
  {
    id: 'relay.state.not-running-after-stop',
    title: 'openPath fails with NOT_RUNNING after stop',
    skipIf: needServer,
    async run(t, fx) {
      const c = await spare(fx);
      t.begin('start, openPath, stop');
      await t.ok('start', fx.start(c, 'd'));
      await t.ok('openPath while running', fx.openPath(c, 'a', LOOPBACK_BACKEND));
      await t.ok('stop', fx.stop(c));
      t.begin('openPath after stop');
      await t.rejects('openPath after stop', fx.openPath(c, 'a', LOOPBACK_BACKEND), 'NOT_RUNNING');
    },
  },
  {
    id: 'relay.path.both-ways',
    title: 'openPath carries datagrams both ways between two registered clients, unchanged, from the local endpoint the backend was given',
    skipIf: needServer,
    async run(t, fx) {
      t.begin('start a and b, open the paths a -> b and b -> a');
      const { aToB, bToA } = await fx.mainPaths();
      const A = fx.agents.a;
      const B = fx.agents.b;
      await Promise.all([A.received(fx.backends.a, true), B.received(fx.backends.b, true)]);
      const payloads = [1, 100, 1400, 8000].map((n, i) => {
        const p = randomBytes(n);
        if (n >= 24) marker(`bw${i}`).copy(p);
        return p;
      });
      t.begin('a\'s backend sends 4 datagrams (1..8000 bytes) to its endpoint for b');
      await A.send(fx.backends.a, aToB, payloads);
      const shas = payloads.map((p) => createHash('sha256').update(p).digest('hex'));
      const atB = await waitFor(() => B.received(fx.backends.b), (l) => shas.every((s) => l.received.some((r) => r.sha === s)), fx.ms(5000));
      const missingAtB = shas.map((s, i) => (atB.received.some((r) => r.sha === s) ? -1 : payloads[i]!.length)).filter((x) => x >= 0);
      t.check(missingAtB.length === 0, 'datagrams a -> b did not arrive intact at b\'s backend', 'all 4 datagrams, byte for byte', { missingSizes: missingAtB, received: atB.received.map((r) => ({ from: r.from, len: r.len })) });
      const wrongSource = atB.received.filter((r) => shas.includes(r.sha) && !r.from.endsWith(`:${bToA.port}`));
      t.check(wrongSource.length === 0, "b's backend must see a's datagrams coming from b's local endpoint for a (so its replies go back the same way)", `from 127.0.0.1:${bToA.port}`, wrongSource.map((r) => r.from));
      t.begin("b's backend echoed them: they come back to a's backend");
      const atA = await waitFor(() => A.received(fx.backends.a), (l) => shas.every((s) => l.received.some((r) => r.sha === s)), fx.ms(5000));
      const missingAtA = shas.filter((s) => !atA.received.some((r) => r.sha === s)).length;
      t.check(missingAtA === 0, "echoes b -> a did not arrive intact at a's backend", 'all 4 echoes', { missing: missingAtA, received: atA.received.map((r) => ({ from: r.from, len: r.len })) });
      const wrongSourceA = atA.received.filter((r) => shas.includes(r.sha) && !r.from.endsWith(`:${aToB.port}`));
      t.check(wrongSourceA.length === 0, "a's backend must see b's datagrams coming from a's local endpoint for b", `from 127.0.0.1:${aToB.port}`, wrongSourceA.map((r) => r.from));
      t.begin("b's backend sends first: b -> a");
      const y = marker('b-first');
      await A.received(fx.backends.a, true);
      await B.send(fx.backends.b, bToA, [y]);
      const got = await waitFor(() => A.received(fx.backends.a), (l) => contains(l, y), fx.ms(5000));
      t.check(contains(got, y), "a datagram b -> a (b's backend sending first) did not arrive", 'delivered', 'not delivered');
    },
  },
  {
    id: 'relay.path.status',
    title: 'status() lists each open path with its local endpoint, and its txPackets/rxPackets grow with the traffic',
    skipIf: needServer,
    async run(t, fx) {
      const { a } = await fx.mainClients();
      const { aToB } = await fx.mainPaths();
      t.begin('status() before the traffic');
      const before = (await t.ok('status()', fx.status(a))).find((p) => p.peer === 'b');
      t.need(before, 'status() does not list the open path to b', 'an entry with peer "b"', await fx.status(a));
      t.check(before!.localEndpoint?.port === aToB.port, 'status() reports another local endpoint than openPath returned', aToB, before!.localEndpoint);
      t.check(typeof before!.relay === 'string' && before!.relay !== '', 'status().relay must name the relay', 'non-empty string', before!.relay);
      t.begin('5 echoes a -> b -> a');
      const r = await fx.agents.a.echoRounds(fx.backends.a, aToB, 5, 3, 1000, 100);
      t.check(r.ok === 5, 'echoes through the relay failed', '5 of 5', r.ok);
      const after = (await t.ok('status()', fx.status(a))).find((p) => p.peer === 'b')!;
      t.check(after.txPackets - before!.txPackets >= 5, 'txPackets did not grow by the datagrams sent', `>= ${before!.txPackets + 5}`, after.txPackets);
      t.check(after.rxPackets - before!.rxPackets >= 5, 'rxPackets did not grow by the datagrams received', `>= ${before!.rxPackets + 5}`, after.rxPackets);
    },
  },
  {
    id: 'relay.path.reopen-and-close',
    title: 'openPath twice returns the same endpoint; closePath removes the path from status(); closePath of an unknown peer is a no-op',
    skipIf: needServer,
    async run(t, fx) {
      const { a } = await fx.mainClients();
      const { aToB } = await fx.mainPaths();
      t.begin('openPath(b) again');
      const again = await t.ok('second openPath(b)', fx.openPath(a, 'b', LOOPBACK_BACKEND));
      t.equal(again, aToB, 'a second openPath for an open path must return the same endpoint');
      t.begin('openPath(d) then closePath(d)');
      await t.ok('openPath(d)', fx.openPath(a, 'd', LOOPBACK_BACKEND));
      await t.ok('closePath(d)', a.plugin.call('closePath', ['d']));
      const st = await t.ok('status()', fx.status(a));
      t.check(!st.some((p) => p.peer === 'd'), 'status() still lists the closed path', 'no entry for d', st.map((p) => p.peer));
      t.begin('closePath of a peer without a path');
      await t.ok('closePath(nobody)', a.plugin.call('closePath', ['nobody']));
      t.begin('the path to b still works');
      const r = await fx.agents.a.echoRounds(fx.backends.a, aToB, 1, 5, 1000, 64);
      t.check(r.ok === 1, 'the path to b stopped working after closing another path', 'echo a -> b -> a', 'no echo');
    },
  },
  {
    id: 'relay.path.max-datagram',
    title: 'a datagram of the claimed maxDatagram bytes is carried intact',
    gate: 'maxDatagram',
    skipIf: needServer,
    async run(t, fx) {
      const size = Math.min(fx.caps.maxDatagram, 65_507);
      const { aToB } = await fx.mainPaths();
      const p = randomBytes(size);
      const sha = createHash('sha256').update(p).digest('hex');
      t.begin(`send one ${size}-byte datagram a -> b (up to 3 tries)`);
      await fx.agents.b.received(fx.backends.b, true);
      let got = false;
      for (let i = 0; i < 3 && !got; i++) {
        await fx.agents.a.send(fx.backends.a, aToB, [p]);
        const l = await waitFor(() => fx.agents.b.received(fx.backends.b), (x) => x.received.some((r) => r.sha === sha), fx.ms(2000));
        got = l.received.some((r) => r.sha === sha);
      }
      t.check(got, `a ${size}-byte datagram (the claimed maxDatagram) did not arrive intact`, 'delivered byte for byte', 'not delivered');
    },
  },
  {
    id: 'relay.register.bad-signature',
    title: 'a client whose sign() uses the wrong key is refused: no datagram is carried to or from it',
    skipIf: needServer,
    deadlineMs: 30_000,
    async run(t, fx) {
      await refusedRegistration(t, fx, IMPOSTOR, `${IMPOSTOR}-wrong`, 'impostor-x');
    },
  },
  {
    id: 'relay.register.unknown-node',
    title: 'a node that is not in the relay\'s allowlist is refused: no datagram is carried to or from it',
    skipIf: needServer,
    deadlineMs: 30_000,
    async run(t, fx) {
      await refusedRegistration(t, fx, STRANGER, STRANGER, 'stranger-y');
    },
  },
  {
    id: 'relay.forward.unregistered-source',
    title: 'DATA datagrams crafted by an unregistered address (host c) are never forwarded to registered nodes',
    skipIf: (fx) => fx.noServerReason ?? (fx.protocolFn('encodeData') ? undefined : `the package exports no protocol.encodeData(nodeId, payload): the kit cannot craft DATA datagrams`),
    async run(t, fx) {
      const encodeData = fx.protocolFn<EncodeData>('encodeData')!;
      const { aToB } = await fx.mainPaths();
      t.begin('capture on the underlay of a and b');
      const [capA, capB] = await Promise.all([fx.net.host('a').capture({ filter: ['udp'] }), fx.net.host('b').capture({ filter: ['udp'] })]);
      try {
        const m = marker('spoof');
        const ctl = marker('control');
        t.begin('c sends DATA for a and for b (10 each) from an unregistered address');
        const sock = await fx.agents.c.open('0.0.0.0', 0);
        const crafted = [encodeData('a', m), encodeData('b', m)];
        await fx.agents.c.send(sock.id, fx.relayEndpoint, Array.from({ length: 20 }, (_, i) => crafted[i % 2]!));
        await fx.agents.c.close(sock.id);
        t.begin('control: a -> b through the relay');
        await fx.agents.a.received(fx.backends.a, true);
        await fx.agents.a.send(fx.backends.a, aToB, [ctl]);
        const back = await waitFor(() => fx.agents.a.received(fx.backends.a), (l) => contains(l, ctl), fx.ms(3000));
        t.check(contains(back, ctl), 'the control datagram a -> b -> a did not come back: the test is inconclusive', 'control echo', 'no echo');
        await sleep(fx.ms(500));
        const [pa, pb] = await Promise.all([capA.stop(), capB.stop()]);
        t.begin('the crafted payload never reached a or b');
        t.check(pb.includes(ctl), "the control payload is not in the capture on b's underlay: the capture does not see relayed traffic", 'control payload captured', 'not captured');
        t.check(!pa.includes(m) && !pb.includes(m), 'the relay forwarded DATA from an address that never registered', 'no crafted payload on the underlay of a or b', { onA: pa.includes(m), onB: pb.includes(m) });
      } finally {
        await Promise.all([capA.stop().catch(() => undefined), capB.stop().catch(() => undefined)]);
      }
    },
  },
  {
    id: 'relay.amplification.unvalidated',
    title: 'to an unregistered address (host c) the server never sends more bytes than it received from it, probe by probe',
    skipIf: needServer,
    async run(t, fx) {
      await fx.mainClients();
      const probes: { what: string; p: Buffer }[] = [];
      for (const n of [1, 2, 3, 5, 6, 7, 16, 64, 95, 96, 97, 200, 1000]) probes.push({ what: `random ${n} bytes`, p: randomBytes(n) });
      for (let ty = 0; ty <= 9; ty++) {
        probes.push({ what: `version 1, type ${ty}, 2 bytes`, p: Buffer.of(1, ty) });
        probes.push({ what: `version 1, type ${ty}, 3 bytes`, p: Buffer.of(1, ty, 0) });
      }
      const hello = fx.protocolFn<EncodeHello>('encodeHello');
      if (hello) {
        const h = hello();
        probes.push({ what: `HELLO (${h.length} bytes)`, p: h }, { what: 'HELLO of 300 bytes', p: hello(300) });
        for (const n of [2, 3, 6, 10, 20, 40, 60, 69, 70, 71, 95]) if (n < h.length) probes.push({ what: `HELLO cut to ${n} bytes`, p: h.subarray(0, n) });
      }
      const ka = fx.protocolFn<EncodeKeepalive>('encodeKeepalive');
      if (ka) {
        const k = ka(1);
        probes.push({ what: `KEEPALIVE (${k.length} bytes)`, p: k });
        for (let n = 2; n < k.length; n++) probes.push({ what: `KEEPALIVE cut to ${n} bytes`, p: k.subarray(0, n) });
      }
      const data = fx.protocolFn<EncodeData>('encodeData');
      if (data) {
        probes.push({ what: 'DATA for a, 1-byte payload', p: data('a', Buffer.of(0x41)) }, { what: 'DATA for b, 100-byte payload', p: data('b', randomBytes(100)) });
      }
      const reg = fx.protocolFn<EncodeRegister>('encodeRegister');
      if (reg) {
        const r = reg(Buffer.alloc(68), 'a', Buffer.alloc(64));
        probes.push({ what: `REGISTER with a forged token (${r.length} bytes)`, p: r }, { what: 'REGISTER cut to 10 bytes', p: r.subarray(0, 10) }, { what: 'REGISTER cut to 70 bytes', p: r.subarray(0, 70) });
      }
      t.begin(`host c sends ${probes.length} probes, each from its own UDP socket, to the relay`);
      const res = await fx.agents.c.probe(fx.relayEndpoint, probes.map((x) => x.p), fx.ms(1000));
      t.begin('compare bytes received by each socket with the bytes it sent');
      const over = res.map((r, i) => ({ probe: probes[i]!.what, sent: r.sent, received: r.received, replies: r.replies })).filter((r) => r.received > r.sent);
      const totalIn = res.reduce((s, r) => s + r.sent, 0);
      const totalOut = res.reduce((s, r) => s + r.received, 0);
      t.check(over.length === 0, `the server sent an unvalidated address more bytes than it received (${over.length} of ${probes.length} probes)`, 'bytes received back <= bytes sent, per probe', over.slice(0, 8));
      t.check(totalOut <= totalIn, 'the server sent the unvalidated address more bytes than it received in total', `<= ${totalIn}`, totalOut);
    },
  },
  {
    id: 'relay.limits.packet-rate',
    title: `a node sending 200 small datagrams at once gets at most burstPackets + packetsPerSecond x (elapsed s + 1) forwarded (server limits ${RATE_LIMITS.packetsPerSecond}/s, burst ${RATE_LIMITS.burstPackets})`,
    skipIf: needServer,
    deadlineMs: 30_000,
    async run(t, fx) {
      const { received, elapsedS } = await rateRun(fx, t, 'pps', 200, 64);
      const allowed = Math.floor(RATE_LIMITS.burstPackets + RATE_LIMITS.packetsPerSecond * (elapsedS + 1));
      t.check(received >= 1, 'nothing was forwarded at all: the rate-limited relay path does not work', '>= 1 datagram', received);
      t.check(received <= allowed, `the relay forwarded more DATA datagrams than its packet rate allows (sent 200 in ${elapsedS.toFixed(1)} s)`, `<= ${allowed}`, received);
    },
  },
  {
    id: 'relay.limits.byte-rate',
    title: `a node sending 20 datagrams of 30 000 bytes at once gets at most burstBytes + bytesPerSecond x (elapsed s + 1) forwarded (server limits ${RATE_LIMITS.bytesPerSecond} B/s, burst ${RATE_LIMITS.burstBytes} B)`,
    skipIf: needServer,
    deadlineMs: 30_000,
    async run(t, fx) {
      const { received, bytes, elapsedS } = await rateRun(fx, t, 'bps', 20, 30_000);
      const allowed = Math.floor(RATE_LIMITS.burstBytes + RATE_LIMITS.bytesPerSecond * (elapsedS + 1));
      t.check(received >= 1, 'nothing was forwarded at all: the rate-limited relay path does not work', '>= 1 datagram', received);
      t.check(bytes <= allowed, `the relay forwarded more bytes than its byte rate allows (sent 600 000 bytes in ${elapsedS.toFixed(1)} s)`, `<= ${allowed} bytes`, { bytes, datagrams: received });
    },
  },
  {
    id: 'relay.flood.junk-dropped',
    title: 'while host c floods the relay with junk and forged datagrams, echoes between two registered clients through openPath keep working (20 of 20)',
    skipIf: needServer,
    deadlineMs: 40_000,
    async run(t, fx) {
      const { aToB } = await fx.mainPaths();
      const templates: Buffer[] = [Buffer.of(0x7f, 0x06, 1, 0x61, 0), randomBytes(300)];
      const hello = fx.protocolFn<EncodeHello>('encodeHello');
      const data = fx.protocolFn<EncodeData>('encodeData');
      const ka = fx.protocolFn<EncodeKeepalive>('encodeKeepalive');
      const reg = fx.protocolFn<EncodeRegister>('encodeRegister');
      if (hello) templates.push(hello());
      if (data) templates.push(data('b', randomBytes(64)), data('a', randomBytes(1200)));
      if (ka) templates.push(ka(9));
      if (reg) templates.push(reg(randomBytes(68), 'a', randomBytes(64)));
      t.begin('start the flood from c');
      await fx.agents.c.floodStart(fx.relayEndpoint, templates, 5_000_000);
      try {
        const warm = await waitFor(() => fx.agents.c.floodCount(), (c) => c.sent >= 5000 || !c.running, fx.ms(15_000), 50);
        t.check(warm.sent >= 5000, 'the flood did not get going', '>= 5000 datagrams sent', warm);
        t.begin('20 echo rounds a -> b -> a during the flood (each up to 5 tries of 500 ms, all within 15 s)');
        const r = await fx.agents.a.echoRounds(fx.backends.a, aToB, 20, 5, 500, 200, fx.ms(15_000));
        const fc = await fx.agents.c.floodCount();
        t.check(fc.running, 'the flood ended before the echo rounds did: the test is inconclusive', 'flood still running', fc);
        t.check(r.ok === 20, 'legitimate traffic between registered clients stopped during the junk flood', '20 of 20 echo rounds', { ok: r.ok, attempts: r.attemptsUsed, stoppedAfter15s: r.outOfBudget, floodDatagrams: fc.sent });
      } finally {
        await fx.agents.c.floodStop();
      }
      t.begin('after the flood: the path still works');
      const r2 = await fx.agents.a.echoRounds(fx.backends.a, aToB, 3, 5, 500, 200);
      t.check(r2.ok === 3, 'the path a <-> b does not work after the flood', '3 of 3 echo rounds', r2.ok);
    },
  },
  {
    id: 'relay.teardown.no-sockets',
    title: 'after stop, the client leaves no UDP socket in its namespace (ss -uanp equals the snapshot before start)',
    skipIf: needServer,
    async run(t, fx) {
      const d = fx.net.host('d');
      const c = await fx.newClient('d', 'teardown-d');
      t.begin('snapshot of UDP sockets in d before start');
      const before = await fx.udpSockets(d);
      t.begin('start, open two paths, carry a datagram, close one path, stop');
      await t.ok('start', fx.start(c, 'd'));
      await t.ok('openPath(a)', fx.openPath(c, 'a', LOOPBACK_BACKEND));
      await t.ok('openPath(b)', fx.openPath(c, 'b', LOOPBACK_BACKEND));
      const during = await fx.udpSockets(d);
      await t.ok('closePath(a)', c.plugin.call('closePath', ['a']));
      await t.ok('stop', fx.stop(c));
      t.begin('UDP sockets in d after stop');
      const after = await waitFor(() => fx.udpSockets(d), (l) => l.every((x) => before.includes(x)), fx.ms(2000), 200);
      const leaked = after.filter((l) => !before.includes(l));
      t.check(leaked.length === 0, 'the client left UDP sockets open after stop', `no sockets beyond the ${before.length} before start (${during.length - before.length} were open while running)`, leaked);
      await c.plugin.close();
    },
  },
  {
    id: 'relay.teardown.server-no-sockets',
    title: 'the server\'s stop() closes its socket (ss -uanp in the relay namespace) and is idempotent',
    skipIf: needServer,
    async run(t, fx) {
      const relay = fx.net.host('relay');
      t.begin(`start a server on port ${SPARE_RELAY_PORT}`);
      await t.ok('createRelayServer(...).start()', fx.agents.relay.serverCreate('spare', fx.pkg.module, fx.serverOptions(`${RELAY_ID}-spare`, SPARE_RELAY_PORT, ['a'], {})));
      const on = (l: string[]): string[] => l.filter((x) => x.includes(`:${SPARE_RELAY_PORT} `));
      const during = on(await fx.udpSockets(relay));
      t.check(during.length >= 1, 'no UDP socket on the server port while it runs', `a socket on :${SPARE_RELAY_PORT}`, during);
      t.begin('stop twice');
      await t.ok('stop()', fx.agents.relay.serverStop('spare'));
      await t.ok('second stop()', fx.agents.relay.serverStop('spare'));
      const after = on(await waitFor(() => fx.udpSockets(relay), (l) => on(l).length === 0, fx.ms(2000), 200));
      t.check(after.length === 0, 'the server left its UDP socket open after stop', `no socket on :${SPARE_RELAY_PORT}`, after);
    },
  },
];
