#!/usr/bin/env node
/**
 * Relay server saturation benchmark on loopback (no root, no namespaces).
 *
 *   node bench/relay-pps.mjs [--seconds 3] [--max-packets 2000000] [--sizes 64,1400] [--json]
 *
 * The relay server runs in its own child process (so its CPU time is measured alone with
 * process.cpuUsage()); node "a" sends DATA to node "b" from a worker thread as fast as it can
 * (bounded by --seconds and --max-packets per size); node "b" counts what arrives in the parent.
 * Prints, per payload size: packets/s forwarded by the relay, packets/s delivered to b, loss,
 * throughput, and relay CPU seconds per Gbit forwarded. Prints; asserts nothing.
 * Needs the relay package built: npx tsc -b plugins/relay
 */
import { fork } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { generateKeyPairSync, sign as edSign, createPrivateKey } from 'node:crypto';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';
import { cpus } from 'node:os';
import { exitWithHelpIfAsked } from './lib/help.mjs';

exitWithHelpIfAsked(import.meta.url);

const here = fileURLToPath(import.meta.url);
const relayPkg = new URL('../plugins/relay/dist/src/index.js', import.meta.url).href;
const { createRelayServer, protocol } = await import(relayPkg);
const RELAY_ID = 'bench-relay';

function arg(name, dflt) {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : dflt;
}

/** HELLO -> CHALLENGE -> REGISTER -> REGISTERED on `sock`. */
async function register(sock, server, nodeId, privateKeyPem) {
  const key = createPrivateKey(privateKeyPem);
  const next = (pred) =>
    new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('relay did not answer')), 5000);
      const on = (m) => {
        if (pred(m)) {
          clearTimeout(t);
          sock.off('message', on);
          resolve(m);
        }
      };
      sock.on('message', on);
    });
  const chP = next((m) => protocol.decodeChallenge(m) !== undefined);
  sock.send(protocol.encodeHello(), server.port, server.host);
  const ch = protocol.decodeChallenge(await chP);
  const sig = edSign(null, protocol.registerSignatureInput(ch.body, nodeId, RELAY_ID), key);
  const okP = next((m) => protocol.decodeRegistered(m) !== undefined || protocol.decodeReject(m) !== undefined);
  sock.send(protocol.encodeRegister(ch.body, nodeId, sig), server.port, server.host);
  const ok = await okP;
  if (!protocol.decodeRegistered(ok)) throw new Error(`registration refused: ${protocol.decodeReject(ok)}`);
}

// ------------------------------------------------------------------ server child
if (process.argv.includes('--server-child')) {
  const server = createRelayServer({
    listen: { host: '127.0.0.1', port: 0 },
    relayId: RELAY_ID,
    identityKeys: JSON.parse(process.env.RELAY_BENCH_KEYS),
    // Limits off: the benchmark measures the forwarding path itself.
    limits: { packetsPerSecond: Infinity, bytesPerSecond: Infinity },
    recvBufferSize: 8 << 20,
    sendBufferSize: 8 << 20,
  });
  const ep = await server.start();
  let cpu0 = process.cpuUsage();
  let st0 = server.stats();
  process.on('message', async (msg) => {
    if (msg === 'mark') {
      cpu0 = process.cpuUsage();
      st0 = server.stats();
      process.send({ marked: true });
    } else if (msg === 'measure') {
      const cpu = process.cpuUsage(cpu0);
      const st = server.stats();
      process.send({
        cpuSeconds: (cpu.user + cpu.system) / 1e6,
        forwarded: st.packetsForwarded - st0.packetsForwarded,
        forwardedBytes: st.bytesForwarded - st0.bytesForwarded,
        bytesOut: st.bytesOut - st0.bytesOut,
        packetsIn: st.packetsIn - st0.packetsIn,
        drops: st.drops,
        recvBufferSize: st.recvBufferSize,
        sendBufferSize: st.sendBufferSize,
      });
    } else if (msg === 'stop') {
      await server.stop();
      process.exit(0);
    }
  });
  process.send({ ready: ep });
}
// ------------------------------------------------------------------ sender worker
else if (!isMainThread) {
  const { server, keyPem, size, seconds, maxPackets } = workerData;
  const sock = createSocket({ type: 'udp4', sendBufferSize: 8 << 20 });
  await new Promise((r) => sock.bind(0, '127.0.0.1', r));
  await register(sock, server, 'a', keyPem);
  parentPort.postMessage({ registered: true });
  await new Promise((r) => parentPort.once('message', r)); // go
  const header = protocol.encodeDataHeader('b');
  const payload = Buffer.alloc(size, 0xab);
  const deadline = Date.now() + seconds * 1000;
  let sent = 0;
  let inflight = 0;
  const WINDOW = 256;
  const t0 = process.hrtime.bigint();
  await new Promise((resolve) => {
    const pump = () => {
      while (inflight < WINDOW && sent < maxPackets) {
        if ((sent & 1023) === 0 && Date.now() > deadline) break;
        inflight++;
        sent++;
        sock.send([header, payload], server.port, server.host, () => {
          inflight--;
          if (inflight === 0) setImmediate(pump);
        });
      }
      if ((sent >= maxPackets || Date.now() > deadline) && inflight === 0) resolve();
    };
    pump();
  });
  const secondsUsed = Number(process.hrtime.bigint() - t0) / 1e9;
  parentPort.postMessage({ sent, secondsUsed });
  sock.close();
}
// ------------------------------------------------------------------ main
else {
  const seconds = Number(arg('seconds', '3'));
  const maxPackets = Number(arg('max-packets', '2000000'));
  const sizes = arg('sizes', '64,1400').split(',').map(Number);
  const asJson = process.argv.includes('--json');

  const keys = {};
  const pems = {};
  for (const id of ['a', 'b']) {
    const { publicKey, privateKey } = generateKeyPairSync('ed25519');
    keys[id] = Buffer.from(publicKey.export({ format: 'jwk' }).x, 'base64url').toString('base64');
    pems[id] = privateKey.export({ format: 'pem', type: 'pkcs8' });
  }
  const child = fork(here, ['--server-child'], { env: { ...process.env, RELAY_BENCH_KEYS: JSON.stringify(keys) }, stdio: 'inherit' });
  const fromChild = (pred) =>
    new Promise((r) => {
      const on = (m) => {
        if (pred(m)) {
          child.off('message', on);
          r(m);
        }
      };
      child.on('message', on);
    });
  const { ready: server } = await fromChild((m) => m.ready);

  const recv = createSocket({ type: 'udp4', recvBufferSize: 8 << 20 });
  await new Promise((r) => recv.bind(0, '127.0.0.1', r));
  await register(recv, server, 'b', pems.b);

  const results = [];
  for (const size of sizes) {
    let received = 0;
    let receivedBytes = 0;
    const onMsg = (m) => {
      if (m[1] === protocol.MessageType.DATA) {
        received++;
        receivedBytes += m.length;
      }
    };
    recv.on('message', onMsg);
    const worker = new Worker(here, { workerData: { server, keyPem: pems.a, size, seconds, maxPackets } });
    await new Promise((r) => worker.once('message', r)); // registered
    child.send('mark');
    await fromChild((m) => m.marked);
    worker.postMessage('go');
    const { sent, secondsUsed } = await new Promise((r) => worker.once('message', r));
    await new Promise((r) => setTimeout(r, 300)); // let the queues drain
    child.send('measure');
    const m = await fromChild((x) => x.cpuSeconds !== undefined);
    recv.off('message', onMsg);
    await worker.terminate();
    const wireBits = m.bytesOut * 8;
    results.push({
      payloadBytes: size,
      seconds: +secondsUsed.toFixed(3),
      sent,
      relayReceived: m.packetsIn,
      relayForwarded: m.forwarded,
      delivered: received,
      lossPercent: +(100 * (1 - received / sent)).toFixed(2),
      relayPps: Math.round(m.forwarded / secondsUsed),
      deliveredPps: Math.round(received / secondsUsed),
      payloadMbitPerS: +((m.forwardedBytes * 8) / secondsUsed / 1e6).toFixed(1),
      relayCpuSeconds: +m.cpuSeconds.toFixed(3),
      relayCpuUtilPercent: +((100 * m.cpuSeconds) / secondsUsed).toFixed(1),
      relayCpuSecondsPerGbit: wireBits > 0 ? +(m.cpuSeconds / (wireBits / 1e9)).toFixed(3) : null,
      relayCpuSecondsPerPayloadGbit: m.forwardedBytes > 0 ? +(m.cpuSeconds / ((m.forwardedBytes * 8) / 1e9)).toFixed(3) : null,
      socketBuffers: { recv: m.recvBufferSize, send: m.sendBufferSize },
    });
  }
  recv.close();
  child.send('stop');
  const out = { bench: 'relay-pps', node: process.version, cpus: cpus().length, cpuModel: cpus()[0]?.model, results };
  if (asJson) console.log(JSON.stringify(out, null, 2));
  else {
    console.log(
      `relay-pps on loopback: node ${out.node}, ${out.cpus} CPU(s) (${out.cpuModel}); relay in its own process, sender in a worker thread, receiver in the main thread`,
    );
    for (const r of results) {
      console.log(
        `  payload ${String(r.payloadBytes).padStart(5)} B: relay forwarded ${r.relayPps.toLocaleString('en')} pps (${r.payloadMbitPerS} Mbit/s payload), ` +
          `delivered ${r.deliveredPps.toLocaleString('en')} pps, loss ${r.lossPercent}% of ${r.sent.toLocaleString('en')} sent in ${r.seconds}s ` +
          `(relay socket took ${r.relayReceived.toLocaleString('en')}; the rest overflowed its receive queue); ` +
          `relay CPU ${r.relayCpuUtilPercent}% = ${r.relayCpuSecondsPerGbit} CPU-s per Gbit sent (${r.relayCpuSecondsPerPayloadGbit} per payload Gbit)`,
      );
    }
  }
}
