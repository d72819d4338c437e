/**
 * The TLS carrier (docs/relay.md, "TLS carrier"): framing, hostile frames, a client whose relay
 * UDP port is unreachable registering over TLS with the certificate pinned to the relay identity,
 * and a relay with another key refused. Loopback only; nothing is timed.
 */
import { expect } from 'chai';
import { createSocket } from 'node:dgram';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:tls';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RelayPlugin } from '@rustynet/plugin-api';
import { createPlugin, createRelayServer, type RelayServer } from '../src/index.js';
import { FrameDecoder, MAX_FRAME, encodeFrame } from '../src/carrier/framing.js';
import { makeContext, makeKey, rejection, udpSocket, type TestKey } from './helpers.js';

const RELAY_ID = 'relay-1';

/** A UDP port on loopback where nothing answers (bound, then closed). */
async function deadUdpPort(): Promise<number> {
  const s = createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
  const port = s.address().port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

describe('relay TLS carrier', () => {
  describe('framing', () => {
    it('round-trips frames split at every byte and glued together', () => {
      const msgs = [Buffer.from([1, 2, 3]), Buffer.alloc(1400, 7), Buffer.alloc(1, 9)];
      const stream = Buffer.concat(msgs.map((m) => encodeFrame(m)));
      const dec = new FrameDecoder();
      const out: Buffer[] = [];
      for (let i = 0; i < stream.length; i++) {
        const f = dec.push(stream.subarray(i, i + 1));
        expect(f).to.be.an('array');
        out.push(...(f as Buffer[]));
      }
      expect(out).to.deep.equal(msgs);
      expect(new FrameDecoder().push(stream)).to.deep.equal(msgs);
      expect(encodeFrame([Buffer.from([1]), Buffer.from([2, 3])])).to.deep.equal(Buffer.from([0, 3, 1, 2, 3]));
    });

    it('refuses oversized and empty frames, for good; keeps a truncated one pending', () => {
      expect(() => encodeFrame(Buffer.alloc(MAX_FRAME + 1))).to.throw(RangeError);
      expect(() => encodeFrame(Buffer.alloc(0))).to.throw(RangeError);
      const big = new FrameDecoder();
      expect(big.push(Buffer.from([0xff, 0xff, 1, 2])))
        .to.be.a('string')
        .and.include('frame length 65535');
      expect(big.push(encodeFrame(Buffer.from([1])))).to.be.a('string');
      expect(new FrameDecoder().push(Buffer.from([0, 0]))).to.be.a('string');
      const trunc = new FrameDecoder();
      expect(trunc.push(Buffer.from([0, 10, 1, 2, 3]))).to.deep.equal([]);
      expect(trunc.pending()).to.equal(5);
    });
  });

  describe('server and client', () => {
    let dir: string;
    let keys: Record<string, TestKey>;
    const servers: RelayServer[] = [];
    const plugins: RelayPlugin[] = [];
    const closers: Array<() => Promise<void>> = [];

    beforeEach(() => {
      dir = mkdtempSync(join(tmpdir(), 'relay-tls-'));
      keys = { a: makeKey(), b: makeKey() };
    });
    afterEach(async () => {
      await Promise.all(plugins.splice(0).map((p) => p.stop()));
      await Promise.all(closers.splice(0).map((c) => c()));
      await Promise.all(servers.splice(0).map((s) => s.stop()));
      rmSync(dir, { recursive: true, force: true });
    });

    async function server(keyName: string): Promise<{ s: RelayServer; tlsPort: number; identityKey: string }> {
      const s = createRelayServer({
        listen: { host: '127.0.0.1', port: 0 },
        relayId: RELAY_ID,
        identityKeys: { a: keys.a.publicKeyB64, b: keys.b.publicKeyB64 },
        identityKeyFile: join(dir, keyName),
        tlsListen: { host: '127.0.0.1', port: 0 },
      });
      servers.push(s);
      await s.start();
      const st = s.stats();
      return { s, tlsPort: st.tls!.listen.port, identityKey: st.identityKey! };
    }

    function plugin(): RelayPlugin {
      const p = createPlugin(makeContext({ attemptTimeoutMs: 300, initialBackoffMs: 10, maxBackoffMs: 50 }));
      plugins.push(p);
      return p;
    }

    it('with the relay UDP port unreachable, two clients register over TLS and relay DATA both ways', async () => {
      const { s, tlsPort, identityKey } = await server('relay.key');
      const relays = [{ id: RELAY_ID, endpoint: { host: '127.0.0.1', port: await deadUdpPort() }, identityKey, tlsPort }];
      const a = plugin();
      const b = plugin();
      await a.start({ nodeId: 'a', relays, sign: keys.a.sign });
      await b.start({ nodeId: 'b', relays, sign: keys.b.sign });
      expect(s.stats().sessions).to.equal(2);
      expect(s.stats().tls!.connections).to.equal(2);
      const backA = await udpSocket();
      const backB = await udpSocket();
      closers.push(backA.close, backB.close);
      const aToB = await a.openPath({ peer: 'b', backendEndpoint: { host: '127.0.0.1', port: backA.port } });
      const bToA = await b.openPath({ peer: 'a', backendEndpoint: { host: '127.0.0.1', port: backB.port } });
      backA.socket.send(Buffer.from('over-tls-to-b'), aToB.port, aToB.host);
      expect((await backB.next()).toString()).to.equal('over-tls-to-b');
      backB.socket.send(Buffer.alloc(60_000, 5), bToA.port, bToA.host);
      expect((await backA.next()).length).to.equal(60_000);
    });

    it('a TLS carrier whose certificate has another key is refused: RELAY_FAILED, RELAY_IDENTITY, naming the relay', async () => {
      const listed = await server('genuine.key');
      const forged = await server('forged.key');
      const relays = [
        {
          id: RELAY_ID,
          endpoint: { host: '127.0.0.1', port: await deadUdpPort() },
          identityKey: listed.identityKey,
          tlsPort: forged.tlsPort,
        },
      ];
      const err = await rejection(plugin().start({ nodeId: 'a', relays, sign: keys.a.sign }));
      expect(err.code).to.equal('RELAY_FAILED');
      expect(err.details).to.include({ relay: RELAY_ID, reason: 'RELAY_IDENTITY' });
      expect(err.message).to.include('TLS certificate');
      expect(forged.s.stats().packetsIn).to.equal(0); // nothing was sent over the forged connection
    });

    it('the server closes a connection sending an oversized frame, and survives a truncated one', async () => {
      const { s, tlsPort } = await server('relay.key');
      const send = (bytes: Buffer): Promise<void> =>
        new Promise((resolve) => {
          const c = connect({ host: '127.0.0.1', port: tlsPort, rejectUnauthorized: false }, () => {
            c.write(bytes);
            c.end();
          });
          c.on('error', () => resolve());
          c.on('close', () => resolve());
          c.resume();
        });
      await send(Buffer.from([0xff, 0xff, 1, 2, 3]));
      await send(Buffer.from([0, 100, 1, 2, 3]));
      expect(s.stats().tls!.protocolErrors).to.equal(1);
      expect(s.stats().packetsIn).to.equal(0);
      expect(s.stats().tls!.connections).to.equal(0);
    });
  });
});
