import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { expect } from 'chai';
import type { PeerConfig } from '@rustynet/plugin-api';
import { MAX_ARGV_BYTES, packWgSet, peerArgs, removeArgs } from '../src/wg-commands.js';

/** A peer shaped like the scale bench's (endpoint, two allowed IPs); random bytes as the key. */
function peer(i: number): PeerConfig {
  return {
    id: `p${i}`,
    publicKey: randomBytes(32).toString('base64'),
    endpoint: { host: `198.19.${(i >> 8) & 255}.${i & 255}`, port: 51820 },
    allowedIps: [`100.65.${(i >> 8) & 255}.${i & 255}/32`, `fd7a:115c:a1e1::${(i + 1).toString(16)}/128`],
  };
}

const argvBytes = (args: string[]): number => args.reduce((n, a) => n + Buffer.byteLength(a) + 1, 0);

describe('wg set argument packing (10 000 peers)', () => {
  const peers = Array.from({ length: 10_000 }, (_, i) => peer(i));
  const clauses = [...peers.slice(0, 2_000).map((p) => removeArgs(p.publicKey)), ...peers.map(peerArgs)];

  it('splits a 10 000-peer batch into several lists, each within the budget, clauses whole and in order', () => {
    const lists = packWgSet('rnm0', clauses);
    expect(lists.length).to.be.greaterThan(1);
    for (const l of lists) {
      expect(l.slice(0, 2)).to.deep.equal(['set', 'rnm0']);
      expect(argvBytes(l)).to.be.at.most(MAX_ARGV_BYTES);
    }
    expect(lists.flatMap((l) => l.slice(2))).to.deep.equal(clauses.flat());
  });

  it('every packed list is accepted by execve (one unpacked list is refused with E2BIG here)', () => {
    // `true` stands in for `wg`: the kernel checks the argument list before the program runs.
    for (const l of packWgSet('rnm0', clauses)) {
      const r = spawnSync('true', l, { stdio: 'ignore' });
      expect(r.error, `execve of a ${argvBytes(l)}-byte list`).to.equal(undefined);
      expect(r.status).to.equal(0);
    }
    // What the packing prevents: with the default 8 MiB stack limit the kernel allows 2 MiB of
    // arguments and environment, pointers included; 10 000 peers in one list need ~2.2 MiB.
    const one = spawnSync('true', ['set', 'rnm0', ...clauses.flat()], { stdio: 'ignore' });
    const stackKiB = Number(spawnSync('sh', ['-c', 'ulimit -s'], { encoding: 'utf8' }).stdout.trim());
    if (stackKiB === 8192) expect((one.error as NodeJS.ErrnoException | undefined)?.code).to.equal('E2BIG');
  });
});
