import { expect } from 'chai';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Command } from 'commander';
import type { Netmap, NetmapNode } from '@rustynet/plugin-api';
import { createRustynetProgram } from '../src/rustynet.js';
import { bashCompletion, completionTable, zshCompletion } from '../src/diag/completion.js';
import { lookupNode, whois } from '../src/commands/lookup.js';
import { renderPing, summarise } from '../src/commands/ping.js';
import { rn } from './helpers.js';

function allPaths(cmd: Command, path: string[] = []): Array<{ path: string[]; cmd: Command }> {
  return cmd.commands.flatMap((sub) => [{ path: [...path, sub.name()], cmd: sub }, ...allPaths(sub, [...path, sub.name()])]);
}

function node(id: string, n: number, extra: Partial<NetmapNode> = {}): NetmapNode {
  return {
    id,
    addresses: [`100.64.0.${n}/32`, `fd7a:115c:a1e0::${n}/128`],
    endpoints: [{ host: `198.18.0.${n}`, port: 51820 }],
    keys: { wireguard: `wgpub${n}${'A'.repeat(38)}=` },
    identityKey: `idpub${n}${'B'.repeat(38)}=`,
    ...extra,
  };
}

const netmap = {
  version: 1,
  nodes: [
    node('a', 1),
    node('b', 2, { name: 'bob', routes: ['10.20.0.0/16'], tags: ['tag:db'] }),
    node('c', 3, { routes: ['10.0.0.0/8'] }),
  ],
} as unknown as Netmap;

describe('rustynet completion', () => {
  const program = createRustynetProgram();
  const dirs: string[] = [];
  const tempDir = (): string => {
    const d = mkdtempSync(join(tmpdir(), 'rn-comp-'));
    dirs.push(d);
    return d;
  };
  after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));
  const commands = allPaths(program).filter((c) => c.cmd.name() !== 'help');

  it('the table has every command and every option of each', () => {
    const table = completionTable(program);
    for (const { path, cmd } of commands) {
      const key = ['rustynet', ...path].join(' ');
      expect(table.has(key), key).to.equal(true);
      const parent = table.get(['rustynet', ...path.slice(0, -1)].join(' '))!;
      expect(
        parent.map((w) => w.word),
        key,
      ).to.include(cmd.name());
      for (const o of cmd.options)
        if (o.long)
          expect(
            table.get(key)!.map((w) => w.word),
            `${key} ${o.long}`,
          ).to.include(o.long);
    }
    expect(commands.map((c) => c.path.join(' '))).to.include.members([
      'ping',
      'netcheck',
      'ip',
      'whois',
      'audit verify',
      'debug bundle',
      'completion',
    ]);
  });

  it('bash really completes every command path (bash runs the generated script)', () => {
    const dir = tempDir();
    const script = join(dir, 'rustynet.bash');
    writeFileSync(script, bashCompletion(program));
    const parents = new Map<string, string[]>();
    for (const { path } of commands) {
      const p = path.slice(0, -1).join(' ');
      parents.set(p, [...(parents.get(p) ?? []), path.at(-1)!]);
    }
    for (const [parent, children] of parents) {
      const words = ['rustynet', ...(parent ? parent.split(' ') : []), ''];
      const probe = `source ${script}; COMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}; _rustynet; printf '%s\\n' "\${COMPREPLY[@]}"`;
      const out = execFileSync('bash', ['-c', probe], { encoding: 'utf8' }).split('\n');
      expect(out, `completions after "rustynet ${parent}"`).to.include.members(children);
    }
    // An option's prefix completes to the option.
    const out = execFileSync(
      'bash',
      ['-c', `source ${script}; COMP_WORDS=(rustynet ping --cou); COMP_CWORD=2; _rustynet; echo "\${COMPREPLY[@]}"`],
      {
        encoding: 'utf8',
      },
    );
    expect(out.trim()).to.equal('--count');
  });

  const hasZsh = spawnSync('zsh', ['-c', 'exit 0']).status === 0;
  (hasZsh ? it : it.skip)('zsh really completes every command path (zsh runs the generated script; zsh from bootstrap.sh)', () => {
    const dir = tempDir();
    const script = join(dir, '_rustynet');
    writeFileSync(script, zshCompletion(program));
    execFileSync('zsh', ['-n', script]);
    const parents = new Map<string, string[]>();
    for (const { path } of commands) {
      const p = path.slice(0, -1).join(' ');
      parents.set(p, [...(parents.get(p) ?? []), path.at(-1)!]);
    }
    for (const [parent, children] of parents) {
      const words = ['rustynet', ...(parent ? parent.split(' ') : []), ''];
      // _describe and compdef stubbed: print the candidates the function hands to _describe.
      const probe = `compdef() { :; }; _describe() { print -l -- "\${(@P)4}"; }; source ${script}; words=(${words.map((w) => `'${w}'`).join(' ')}); CURRENT=${words.length}; _rustynet`;
      const out = execFileSync('zsh', ['-c', probe], { encoding: 'utf8' })
        .split('\n')
        .map((l) => l.split(':')[0]);
      expect(out, `completions after "rustynet ${parent}"`).to.include.members(children);
    }
  });

  it('zsh script lists every command with its description', () => {
    const z = zshCompletion(program);
    expect(z.startsWith('#compdef rustynet\n')).to.equal(true);
    for (const { path, cmd } of commands) {
      expect(z, path.join(' ')).to.contain(`'${['rustynet', ...path].join(' ')}'`);
      expect(z, path.join(' ')).to.contain(`${cmd.name()}:`);
    }
  });

  it('rustynet completion bash|zsh prints the script; another shell is a usage error (exit 2)', async () => {
    expect((await rn(['completion', 'bash'])).stdout).to.contain('complete -o default -F _rustynet rustynet');
    expect((await rn(['completion', 'zsh'])).stdout).to.contain('compdef _rustynet rustynet');
    const r = await rn(['completion', 'fish']);
    expect(r.code).to.equal(2);
    expect(r.stderr).to.match(/INVALID_INPUT: .*fish/);
  });
});

describe('rustynet ip / whois lookups', () => {
  it('finds a node by id, name, overlay IP (with or without prefix) and key', () => {
    expect(lookupNode(netmap, 'b').id).to.equal('b');
    expect(lookupNode(netmap, 'bob').id).to.equal('b');
    expect(lookupNode(netmap, '100.64.0.3').id).to.equal('c');
    expect(lookupNode(netmap, 'fd7a:115c:a1e0::2/128').id).to.equal('b');
    expect(lookupNode(netmap, netmap.nodes[0].identityKey).id).to.equal('a');
    expect(lookupNode(netmap, netmap.nodes[2].keys['wireguard']).id).to.equal('c');
    expect(() => lookupNode(netmap, 'zed')).to.throw(/no node "zed"/);
  });

  it('whois: an overlay address, an IPv6 in another spelling, the most specific route; errors name the field', () => {
    expect(whois(netmap, '100.64.0.2')).to.deep.include({ match: 'address' });
    expect(whois(netmap, '100.64.0.2').node).to.include({ id: 'b', name: 'bob' });
    expect(whois(netmap, 'fd7a:115c:a1e0:0:0:0:0:3').node.id).to.equal('c');
    const r = whois(netmap, '10.20.1.1');
    expect(r).to.deep.include({ match: 'route', route: '10.20.0.0/16' });
    expect(r.node.id).to.equal('b');
    expect(whois(netmap, '10.9.9.9').node.id).to.equal('c');
    expect(() => whois(netmap, '192.0.2.1'))
      .to.throw(/no node/)
      .with.property('field', 'ip');
    expect(() => whois(netmap, 'not-an-ip'))
      .to.throw(/not an IPv4 or IPv6/)
      .with.property('field', 'ip');
  });

  it('ping: a direct and a relayed line, a miss, the summary', () => {
    const base = { peer: 'b', name: 'bob', address: '100.64.0.2', currentPath: 'direct' as const };
    expect(renderPing({ ...base, reply: true, path: 'direct', via: '198.18.0.2:41641', rttMs: 3, method: 'probe' }, 1000)).to.equal(
      'pong from bob (100.64.0.2) via 198.18.0.2:41641 (direct) in 3ms\n',
    );
    expect(
      renderPing({ ...base, currentPath: 'relay', reply: true, path: 'relay', via: 'relay r1', rttMs: 1.234, method: 'tunnel' }, 1000),
    ).to.match(/via relay r1 \(relay\) in 1\.23ms/);
    expect(renderPing({ ...base, reply: false, note: 'x' }, 500)).to.equal('no reply from bob (100.64.0.2) within 500 ms: x\n');
    const s = summarise('b', [
      { ...base, reply: true, rttMs: 2 },
      { ...base, reply: false },
      { ...base, reply: true, rttMs: 4 },
    ]);
    expect(s).to.include({ sent: 3, received: 2, minRttMs: 2, avgRttMs: 3, maxRttMs: 4 });
  });

  it('ping/netcheck/ip/whois against no daemon: NOT_RUNNING, exit 1; bad options: exit 2 naming the option', async () => {
    const env = { RUSTYNET_SOCKET: join(tmpdir(), `rn-none-${process.pid}.sock`) };
    for (const args of [['ping', 'b', '-c', '1'], ['netcheck'], ['ip'], ['whois', '100.64.0.1']]) {
      const r = await rn(args, { env });
      expect(r.code, args.join(' ')).to.equal(1);
      expect(r.stderr, args.join(' ')).to.contain('NOT_RUNNING');
    }
    const bad = await rn(['ping', 'b', '-c', '0'], { env });
    expect(bad.code).to.equal(2);
    expect(bad.stderr).to.contain('--count must be 1..1000');
  });
});
