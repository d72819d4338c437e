/**
 * Relay identity (docs/relay.md, "Relay identity"): the relay signs its CHALLENGE and its
 * REGISTERED / REJECT answers with the key the netmap lists for it; a node refuses a relay whose
 * signature does not verify (or that does not sign). Loopback only; nothing is timed.
 */
import { expect } from 'chai';
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { chmodSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RelayPlugin } from '@rustynet/plugin-api';
import {
  RelayCore,
  createPlugin,
  createRelayServer,
  identity,
  loadOrCreateRelayIdentity,
  protocol,
  type RelayServer,
} from '../src/index.js';
import { RecordingLogger, makeContext, makeKey, rejection, udpSocket, type TestKey } from './helpers.js';
import { udpProxy, type UdpProxy } from './udp-proxy.js';

const RELAY_ID = 'relay-1';

/** A UDP proxy in front of the relay that passes every answer through `edit`. */
const editingProxy = (target: { host: string; port: number }, edit: (m: Buffer) => Buffer): Promise<UdpProxy> =>
  udpProxy(target, { down: edit });

describe('relay identity', () => {
  let dir: string;
  let keys: Record<string, TestKey>;
  let allowlist: Record<string, string>;
  const servers: RelayServer[] = [];
  const plugins: RelayPlugin[] = [];
  const closers: Array<() => Promise<void>> = [];

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'relay-identity-'));
    keys = { a: makeKey(), b: makeKey() };
    allowlist = { a: keys.a.publicKeyB64, b: keys.b.publicKeyB64 };
  });

  afterEach(async () => {
    await Promise.all(plugins.splice(0).map((p) => p.stop()));
    await Promise.all(closers.splice(0).map((c) => c()));
    await Promise.all(servers.splice(0).map((s) => s.stop()));
    rmSync(dir, { recursive: true, force: true });
  });

  async function server(keyFile: string | undefined): Promise<{ s: RelayServer; endpoint: { host: string; port: number } }> {
    const s = createRelayServer({
      listen: { host: '127.0.0.1', port: 0 },
      relayId: RELAY_ID,
      identityKeys: allowlist,
      ...(keyFile !== undefined && { identityKeyFile: keyFile }),
    });
    servers.push(s);
    return { s, endpoint: await s.start() };
  }

  function plugin(logger = new RecordingLogger()): { p: RelayPlugin; logger: RecordingLogger } {
    const p = createPlugin(makeContext({ attemptTimeoutMs: 500 }, { logger }));
    plugins.push(p);
    return { p, logger };
  }

  describe('key file', () => {
    it('is created 0600 on first start, reused afterwards, and its public key reported', async () => {
      const file = join(dir, 'relay.key');
      const first = await loadOrCreateRelayIdentity(file);
      expect(first.created).to.equal(true);
      expect(statSync(file).mode & 0o777).to.equal(0o600);
      expect(first.publicKey).to.match(/^[A-Za-z0-9+/]{43}=$/);
      const again = await loadOrCreateRelayIdentity(file);
      expect(again.created).to.equal(false);
      expect(again.publicKey).to.equal(first.publicKey);
      const { s } = await server(file);
      expect(s.stats().identityKey).to.equal(first.publicKey);
    });

    it('refuses a key file readable by others, one with junk, and a non-Ed25519 key (INVALID_INPUT naming identityKeyFile)', async () => {
      const file = join(dir, 'relay.key');
      await loadOrCreateRelayIdentity(file);
      chmodSync(file, 0o644);
      let err = await rejection(loadOrCreateRelayIdentity(file));
      expect(err.code).to.equal('INVALID_INPUT');
      expect(err.field).to.equal('identityKeyFile');
      expect(err.message).to.include('chmod 600');
      writeFileSync(file, 'not a key', { mode: 0o600 });
      chmodSync(file, 0o600);
      err = await rejection(loadOrCreateRelayIdentity(file));
      expect(err.code).to.equal('INVALID_INPUT');
      expect(err.message).to.include('not a PEM private key');
      const { privateKey } = generateKeyPairSync('x25519');
      writeFileSync(file, privateKey.export({ type: 'pkcs8', format: 'pem' }));
      err = await rejection(loadOrCreateRelayIdentity(file));
      expect(err.message).to.include('not Ed25519');
      writeFileSync(file, Buffer.alloc(5000, 0x41));
      err = await rejection(loadOrCreateRelayIdentity(file));
      expect(err.message).to.include('larger than');
      // a bad key file stops the server's start; nothing is bound
      const s = createRelayServer({
        listen: { host: '127.0.0.1', port: 0 },
        relayId: RELAY_ID,
        identityKeys: allowlist,
        identityKeyFile: file,
      });
      expect((await rejection(s.start())).code).to.equal('INVALID_INPUT');
      expect(s.address()).to.equal(null);
    });
  });

  describe('client', () => {
    it('registers with a relay that proves the netmap key, and relays DATA both ways', async () => {
      const file = join(dir, 'relay.key');
      const { s, endpoint } = await server(file);
      const relays = [{ id: RELAY_ID, endpoint, identityKey: s.stats().identityKey! }];
      const a = plugin().p;
      const b = plugin().p;
      await a.start({ nodeId: 'a', relays, sign: keys.a.sign });
      await b.start({ nodeId: 'b', relays, sign: keys.b.sign });
      expect(s.stats().sessions).to.equal(2);
      const backA = await udpSocket();
      const backB = await udpSocket();
      closers.push(backA.close, backB.close);
      const pathAtoB = await a.openPath({ peer: 'b', backendEndpoint: { host: '127.0.0.1', port: backA.port } });
      await b.openPath({ peer: 'a', backendEndpoint: { host: '127.0.0.1', port: backB.port } });
      backA.socket.send(Buffer.from('hello-b'), pathAtoB.port, pathAtoB.host);
      expect((await backB.next()).toString()).to.equal('hello-b');
    });

    it('a relay answering with another key is refused before any REGISTER: RELAY_FAILED naming the relay, reason RELAY_IDENTITY', async () => {
      const { s: forger, endpoint } = await server(join(dir, 'forger.key'));
      const real = await loadOrCreateRelayIdentity(join(dir, 'real.key'));
      const { p } = plugin();
      const err = await rejection(
        p.start({ nodeId: 'a', relays: [{ id: RELAY_ID, endpoint, identityKey: real.publicKey }], sign: keys.a.sign }),
      );
      expect(err.code).to.equal('RELAY_FAILED');
      expect(err.message).to.match(
        /^relay relay-1 \(127\.0\.0\.1:\d+\) failed its identity check: its CHALLENGE signature does not verify/,
      );
      expect(err.details).to.include({ relay: RELAY_ID, node: 'a', reason: 'RELAY_IDENTITY', definite: true });
      const st = forger.stats();
      expect(st.registrations).to.equal(0);
      expect(st.packetsIn).to.equal(1); // the HELLO_ID only: the node's signature never went to the forger
      expect((await rejection(p.openPath({ peer: 'b', backendEndpoint: { host: '127.0.0.1', port: 9 } }))).code).to.equal('NOT_RUNNING');
    });

    it('a relay without a key (unsigned CHALLENGE) is refused when the netmap lists one', async () => {
      const { endpoint } = await server(undefined);
      const real = await loadOrCreateRelayIdentity(join(dir, 'real.key'));
      const { p } = plugin();
      const err = await rejection(
        p.start({ nodeId: 'a', relays: [{ id: RELAY_ID, endpoint, identityKey: real.publicKey }], sign: keys.a.sign }),
      );
      expect(err.details).to.include({ reason: 'RELAY_IDENTITY' });
      expect(err.message).to.include('unsigned CHALLENGE');
    });

    it('a tampered REGISTERED_ID signature is refused; a tampered REJECT_ID too', async () => {
      const { s, endpoint } = await server(join(dir, 'relay.key'));
      const identityKey = s.stats().identityKey!;
      const flipLast = (type: number) => (m: Buffer) => {
        if (m[1] === type) m[m.length - 1] ^= 1;
        return m;
      };
      const proxy = await editingProxy(endpoint, flipLast(identity.IdentityMessageType.REGISTERED_ID));
      closers.push(proxy.close);
      let err = await rejection(
        plugin().p.start({ nodeId: 'a', relays: [{ id: RELAY_ID, endpoint: proxy.endpoint, identityKey }], sign: keys.a.sign }),
      );
      expect(err.message).to.include('REGISTERED signature does not verify');
      const proxy2 = await editingProxy(endpoint, flipLast(identity.IdentityMessageType.REJECT_ID));
      closers.push(proxy2.close);
      err = await rejection(
        plugin().p.start({ nodeId: 'a', relays: [{ id: RELAY_ID, endpoint: proxy2.endpoint, identityKey }], sign: keys.b.sign }),
      );
      expect(err.message).to.include('REJECT signature does not verify');
    });

    it('a genuine signed REJECT is still a definite refusal (BAD_SIGNATURE)', async () => {
      const { s, endpoint } = await server(join(dir, 'relay.key'));
      const err = await rejection(
        plugin().p.start({ nodeId: 'a', relays: [{ id: RELAY_ID, endpoint, identityKey: s.stats().identityKey! }], sign: keys.b.sign }),
      );
      expect(err.details).to.include({ reason: 'BAD_SIGNATURE' });
    });

    it('a malformed identityKey in the start config: INVALID_INPUT naming relays[i].identityKey, nothing sent', async () => {
      const { s, endpoint } = await server(join(dir, 'relay.key'));
      for (const bad of ['short', 'A'.repeat(43) + '!', 42, 'A'.repeat(44)]) {
        const err = await rejection(
          plugin().p.start({ nodeId: 'a', relays: [{ id: RELAY_ID, endpoint, identityKey: bad as string }], sign: keys.a.sign }),
        );
        expect(err.code).to.equal('INVALID_INPUT');
        expect(err.field).to.equal('relays[0].identityKey');
      }
      expect(s.stats().packetsIn).to.equal(0);
    });

    it('a relay with a key still serves nodes whose netmap lists none (unsigned v1 answers)', async () => {
      const { s, endpoint } = await server(join(dir, 'relay.key'));
      await plugin().p.start({ nodeId: 'a', relays: [{ id: RELAY_ID, endpoint }], sign: keys.a.sign });
      expect(s.stats().sessions).to.equal(1);
    });
  });

  describe('engine (hostile input)', () => {
    function engine(): { core: RelayCore; sent: Buffer[]; key: KeyObject } {
      const sent: Buffer[] = [];
      const { privateKey } = generateKeyPairSync('ed25519');
      const core = new RelayCore({
        relayId: RELAY_ID,
        identityKeys: allowlist,
        identityKey: privateKey,
        limits: { challengeSignaturesPerSecond: 2 },
        send: (m, _p, _a, done) => {
          sent.push(Array.isArray(m) ? Buffer.concat(m) : m);
          done(null);
        },
      });
      return { core, sent, key: privateKey };
    }

    it('answers a HELLO_ID >= 160 bytes with a 134-byte CHALLENGE_ID whose signature verifies; a shorter one gets nothing', () => {
      const { core, sent, key } = engine();
      const nonce = Buffer.alloc(32, 7);
      core.onDatagram(identity.encodeHelloId(nonce).subarray(0, 159), '10.0.0.1', 1000);
      expect(sent).to.have.length(0);
      expect(core.counters().drops.hello_too_small).to.equal(1);
      core.onDatagram(identity.encodeHelloId(nonce), '10.0.0.1', 1000);
      expect(sent).to.have.length(1);
      expect(sent[0].length).to.equal(identity.CHALLENGE_ID_SIZE);
      const c = identity.decodeChallengeId(sent[0])!;
      const pub = identity.parseRelayIdentityKey(identity.publicKeyB64(key));
      expect(identity.verifySignature(identity.challengeSignatureInput(nonce, c.challenge.body, RELAY_ID), pub, c.signature)).to.equal(
        true,
      );
      // bound to the client nonce and the relay id
      expect(
        identity.verifySignature(identity.challengeSignatureInput(Buffer.alloc(32), c.challenge.body, RELAY_ID), pub, c.signature),
      ).to.equal(false);
      expect(identity.verifySignature(identity.challengeSignatureInput(nonce, c.challenge.body, 'relay-2'), pub, c.signature)).to.equal(
        false,
      );
    });

    it('limits signed challenges per second (sign_rate_limited); never amplifies', () => {
      const { core, sent } = engine();
      for (let i = 0; i < 5; i++) core.onDatagram(identity.encodeHelloId(Buffer.alloc(32)), '10.0.0.1', 1000 + i);
      expect(sent).to.have.length(2);
      expect(core.counters().drops.sign_rate_limited).to.equal(3);
      const c = core.counters();
      expect(c.unvalidatedBytesOut).to.be.at.most(c.unvalidatedBytesIn);
    });

    it('drops truncated, oversized and server-only identity messages without an answer', () => {
      const { core, sent } = engine();
      const challengeId = Buffer.alloc(identity.CHALLENGE_ID_SIZE);
      challengeId[0] = 1;
      challengeId[1] = identity.IdentityMessageType.CHALLENGE_ID;
      core.onDatagram(challengeId, '10.0.0.1', 1);
      const reg = protocol.encodeRegister(Buffer.alloc(68), 'a', Buffer.alloc(64));
      reg[1] = identity.IdentityMessageType.REGISTER_ID;
      core.onDatagram(reg.subarray(0, reg.length - 1), '10.0.0.1', 1); // truncated
      core.onDatagram(Buffer.concat([reg, Buffer.alloc(1)]), '10.0.0.1', 1); // one byte too many
      core.onDatagram(reg, '10.0.0.1', 1); // well-formed, but a token we never minted
      expect(sent).to.have.length(0);
      const d = core.counters().drops;
      expect(d.unexpected_type).to.equal(1);
      expect(d.malformed).to.equal(2);
      expect(d.bad_token).to.equal(1);
    });

    it('decoders refuse wrong lengths and types; verifySignature is false for a short or junk signature', () => {
      expect(identity.decodeChallengeId(Buffer.alloc(133, 1))).to.equal(undefined);
      expect(identity.decodeSignedReply(Buffer.from([1, identity.IdentityMessageType.REGISTERED_ID, 0, 0]))).to.equal(undefined);
      expect(identity.decodeSignedReply(Buffer.alloc(identity.REJECT_ID_SIZE + 1, 1))).to.equal(undefined);
      expect(identity.decodeHelloId(Buffer.alloc(200))).to.equal(undefined); // version 0
      const pub = identity.parseRelayIdentityKey(makeKey().publicKeyB64);
      expect(identity.verifySignature(Buffer.from('x'), pub, Buffer.alloc(63))).to.equal(false);
      expect(identity.verifySignature(Buffer.from('x'), pub, Buffer.alloc(64, 0xff))).to.equal(false);
      expect(() => identity.parseRelayIdentityKey('A'.repeat(42) + '==')).to.throw(/32-byte/);
    });
  });
});
