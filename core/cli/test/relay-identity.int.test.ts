/**
 * Integration test (root): a forged relay is refused (relay identity, docs/relay.md).
 *
 * A 3-node mesh of real `rustynetd` processes plus a relay host. The signed netmap lists the
 * relay with its identity key, but the process answering on the relay's address is a
 * `rustynet relay serve` with another key (it creates its own key file): an impostor on the
 * relay's address. Every daemon must refuse it, logging an error that names the relay; with the
 * direct path a<->b blocked, nothing may flow through the impostor and a keeps b on the direct
 * path. Then the genuine relay (the netmap's key) replaces the impostor: the daemons register by
 * themselves and a<->b traffic flows through it — the refusal was about identity, not reachability.
 * Prints the times it measured.
 */
import { expect } from 'chai';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Mesh, RELAY_HOST, sleep } from '@rustynet/testbed';
import { created, describeEachRelayBackend, startMesh } from './mesh-fixture.js';

const BACKENDS: string[] = ['@rustynet/backend-wireguard'];
const REFUSAL = 'failed its identity check';

async function waitForLog(mesh: Mesh, id: string, text: string, timeoutMs: number): Promise<number | null> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if ((await mesh.tail(id, 400)).includes(text)) return Date.now();
    await sleep(100);
  }
  return null;
}

await describeEachRelayBackend(
  BACKENDS,
  (backend) => `relay identity: a forged relay is refused (${backend})`,
  function (backend) {
    this.timeout(150_000);
    let mesh: Mesh | undefined;
    const times: Record<string, number> = {};
    const m = (): Mesh => created(mesh);

    before(async function () {
      mesh = await startMesh(backend, { relay: true, logLevel: 'info' }, 1, { daemons: false });
    });

    after(async () => {
      await mesh?.destroy();
      if (Object.keys(times).length > 0) console.log(`      measured: ${JSON.stringify(times)}`);
    });

    it('every daemon refuses an impostor answering on the relay address with another key (error names the relay); nothing flows through it', async () => {
      const mesh = m();
      const forgedKey = join(mesh.workDir, RELAY_HOST, 'forged-identity.key');
      const t0 = Date.now();
      await mesh.startRelayServer(20_000, forgedKey);
      const out = await readFile(mesh.relayOutFile, 'utf8');
      const forgedPub = /identity key ([A-Za-z0-9+/]{43}=)/.exec(out)?.[1];
      expect(forgedPub, `the impostor printed its public key:\n${out}`).to.be.a('string');
      expect(forgedPub).to.not.equal(mesh.relayIdentityKey);
      expect(out, 'the impostor logs that the netmap lists another key').to.include('the netmap lists another identity key');
      const tDaemons = Date.now();
      await mesh.startDaemons(backend, 1);
      const refused = await Promise.all(mesh.nodes.map((n) => waitForLog(mesh, n.id, REFUSAL, 20_000)));
      refused.forEach((t, i) => expect(t, `daemon ${mesh.nodes[i].id} logged the refusal`).to.not.equal(null));
      times['daemonStartToRefusalMs'] = Math.max(...(refused as number[])) - tDaemons;
      const log = await mesh.tail('a', 400);
      const line = log.split('\n').find((l) => l.includes(REFUSAL)) ?? '';
      expect(line, 'the refusal names the relay').to.include('relay relay-1 (');
      console.log(`      a's log: ${line.slice(0, 300)}`);

      // Direct blocked: a must keep b direct (the forged relay is no path) and no ping gets through.
      await mesh.waitFor((_id, s) => s.state === 'up', 'all up', 30_000);
      const b = mesh.node('b');
      await mesh.blockDirect('a', 'b');
      const pinger = mesh.continuousPing('a', b.v4, 0.2);
      const paths = new Set<string>();
      const until = Date.now() + 6_000;
      while (Date.now() < until) {
        paths.add((await mesh.status('a')).peers.find((p) => p.id === 'b')?.path ?? 'missing');
        await sleep(250);
      }
      await pinger.stop();
      expect([...paths], "a's path for b while only the impostor answers").to.deep.equal(['direct']);
      expect(pinger.replies.length, 'ping replies a -> b through the impostor').to.equal(0);
      const stopped = await mesh.stopRelayServer();
      expect(stopped?.output ?? '', 'the impostor forwarded nothing').to.match(/forwarded 0 datagrams/);
      times['impostorUpMs'] = Date.now() - t0;
    });

    it('the genuine relay (the netmap key) replaces it: the daemons register by themselves and a<->b flows through it', async () => {
      const mesh = m();
      const b = mesh.node('b');
      const tStart = Date.now();
      await mesh.startRelayServer();
      const tRelay = await mesh.waitForPath(
        [
          ['a', 'b'],
          ['b', 'a'],
        ],
        'relay',
        90_000,
      );
      const pinger = mesh.continuousPing('a', b.v4, 0.1);
      const tReply = await pinger.firstReplyAfter(tRelay, 10_000);
      await pinger.stop();
      times['genuineStartToRelayPathMs'] = tRelay - tStart;
      times['genuineStartToFirstReplyMs'] = tReply === null ? -1 : tReply - tStart;
      expect(tReply, 'a ping a -> b through the genuine relay').to.not.equal(null);
      await mesh.unblockDirect('a', 'b');
    });
  },
);
