/**
 * Integration (root): a server namespace and a client namespace joined by a veth pair created
 * inside the namespaces (the root namespace is never touched). The server is the standalone
 * script running the plugin in the server namespace; `dig` runs in the client namespace.
 */
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface, type Interface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { expect } from 'chai';
import { installNetnsResolvConf, removeNetnsResolvConf, renderResolvConf } from '../src/index.js';

const run = promisify(execFile);
const STANDALONE = fileURLToPath(new URL('../src/standalone.js', import.meta.url));
/** Per-run bookkeeping of this suite: one file per run, holding the owner pid. */
const RUN_DIR = '/run/rustynet-dns-magic-test';
const PREFIX = `rnd${randomBytes(2).toString('hex')}`;
const NS_SRV = `${PREFIX}-srv`;
const NS_CLI = `${PREFIX}-cli`;
const SRV4 = '198.18.77.1';
const CLI4 = '198.18.77.2';
const SRV6 = 'fd00:77::1';
const CLI6 = 'fd00:77::2';
const PORT = 20000 + (randomBytes(2).readUInt16BE(0) % 30000);

function ip(...args: string[]): void {
  execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

function deleteRun(prefix: string): void {
  for (const ns of [`${prefix}-srv`, `${prefix}-cli`]) {
    try {
      execFileSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
    } catch {
      // not there
    }
    rmSync(join('/etc/netns', ns), { recursive: true, force: true });
  }
  rmSync(join(RUN_DIR, prefix), { force: true });
}

/** Removes namespaces left by earlier runs of this suite whose process is gone. */
function removeStale(): void {
  if (!existsSync(RUN_DIR)) return;
  for (const f of readdirSync(RUN_DIR)) {
    if (!/^rnd[0-9a-f]{4}$/.test(f)) continue;
    const pid = Number(readFileSync(join(RUN_DIR, f), 'utf8'));
    let alive: boolean;
    try {
      process.kill(pid, 0);
      alive = true;
    } catch {
      alive = false;
    }
    if (!alive) deleteRun(f);
  }
}

let server: ChildProcess | undefined;
let lines: Interface | undefined;
const pending: Array<(line: Record<string, unknown>) => void> = [];

function cleanup(): void {
  server?.kill('SIGKILL');
  deleteRun(PREFIX);
}

function onSigint(): void {
  cleanup();
  process.exit(130);
}

/** Sends one JSON command to the server script and waits for its JSON answer line. */
function command(cmd: Record<string, unknown>): Promise<Record<string, unknown>> {
  return new Promise((resolve) => {
    pending.push(resolve);
    server!.stdin!.write(`${JSON.stringify(cmd)}\n`);
  });
}

async function dig(...args: string[]): Promise<string> {
  const { stdout } = await run('ip', ['netns', 'exec', NS_CLI, 'dig', '+time=2', '+tries=2', ...args]);
  return stdout;
}

function status(out: string): string | undefined {
  return /status: ([A-Z]+)/.exec(out)?.[1];
}

const ZONE = {
  zone: 'rustynet',
  nodes: [
    { id: 'a', name: 'alpha', addresses: ['100.64.0.1', 'fd00:64::1'] },
    { id: 'b', name: 'b', addresses: ['100.64.0.2', 'fd00:64::2'] },
  ],
};

describe('dns-magic in network namespaces (root)', function () {
  this.timeout(60000);

  before(async function () {
    // Needs root for `ip netns`; reported as pending (skipped) otherwise, never as a pass.
    if (process.getuid?.() !== 0) this.skip();
    removeStale();
    mkdirSync(RUN_DIR, { recursive: true, mode: 0o700 });
    writeFileSync(join(RUN_DIR, PREFIX), String(process.pid));
    process.once('SIGINT', onSigint);
    ip('netns', 'add', NS_SRV);
    ip('netns', 'add', NS_CLI);
    ip('-n', NS_SRV, 'link', 'add', 'v0', 'type', 'veth', 'peer', 'name', 'v1', 'netns', NS_CLI);
    ip('-n', NS_SRV, 'addr', 'add', `${SRV4}/24`, 'dev', 'v0');
    ip('-n', NS_CLI, 'addr', 'add', `${CLI4}/24`, 'dev', 'v1');
    ip('-n', NS_SRV, 'addr', 'add', `${SRV6}/64`, 'dev', 'v0', 'nodad');
    ip('-n', NS_CLI, 'addr', 'add', `${CLI6}/64`, 'dev', 'v1', 'nodad');
    for (const [ns, dev] of [
      [NS_SRV, 'v0'],
      [NS_CLI, 'v1'],
    ] as const) {
      ip('-n', ns, 'link', 'set', 'lo', 'up');
      ip('-n', ns, 'link', 'set', dev, 'up');
    }
    const zoneFile = join(tmpdir(), `${PREFIX}-zone.json`);
    writeFileSync(zoneFile, JSON.stringify(ZONE));
    server = spawn(
      'ip',
      [
        'netns',
        'exec',
        NS_SRV,
        process.execPath,
        STANDALONE,
        '--listen',
        `${SRV4}:${PORT}`,
        '--listen',
        `[${SRV6}]:${PORT}`,
        '--listen',
        `${SRV4}:53`,
        '--zone-file',
        zoneFile,
        '--options',
        JSON.stringify({ rateLimit: { qps: 1000, burst: 2000 } }),
      ],
      { stdio: ['pipe', 'pipe', 'inherit'] },
    );
    lines = createInterface({ input: server.stdout! });
    const ready = new Promise<Record<string, unknown>>((resolve, reject) => {
      server!.once('exit', (code) => reject(new Error(`server exited with ${code}`)));
      lines!.on('line', (l) => {
        const msg = JSON.parse(l) as Record<string, unknown>;
        if (msg.event === 'ready' || (msg.event === 'error' && pending.length === 0)) resolve(msg);
        else pending.shift()?.(msg);
      });
    });
    const r = await ready;
    rmSync(zoneFile, { force: true });
    expect(r.event, JSON.stringify(r)).to.equal('ready');
  });

  after(async () => {
    if (process.getuid?.() !== 0) return;
    process.off('SIGINT', onSigint);
    if (server && server.exitCode === null) {
      const exited = new Promise((r) => server!.once('exit', r));
      server.kill('SIGTERM');
      await exited;
    }
    cleanup();
    // Nothing of this run is left.
    const { stdout } = await run('ip', ['netns', 'list']);
    expect(stdout).to.not.include(PREFIX);
  });

  it('dig from the other namespace gets A and AAAA for b.rustynet', async () => {
    expect((await dig(`@${SRV4}`, '-p', String(PORT), 'b.rustynet', 'A', '+short')).trim()).to.equal('100.64.0.2');
    expect((await dig(`@${SRV4}`, '-p', String(PORT), 'B.RustyNet', 'AAAA', '+short')).trim()).to.equal('fd00:64::2');
    expect((await dig(`@${SRV6}`, '-p', String(PORT), 'alpha.rustynet', 'A', '+short')).trim()).to.equal('100.64.0.1');
    expect((await dig(`@${SRV4}`, '-p', String(PORT), '+tcp', 'a.rustynet', 'A', '+short')).trim()).to.equal('100.64.0.1');
    const full = await dig(`@${SRV4}`, '-p', String(PORT), 'b.rustynet', 'A');
    expect(status(full)).to.equal('NOERROR');
    expect(full).to.match(/flags: qr aa/);
  });

  it('NXDOMAIN (with SOA) and REFUSED via dig', async () => {
    const nx = await dig(`@${SRV4}`, '-p', String(PORT), 'nobody.rustynet', 'A');
    expect(status(nx)).to.equal('NXDOMAIN');
    expect(nx).to.match(/AUTHORITY SECTION:\s*\nrustynet\.\s+\d+\s+IN\s+SOA/);
    expect(status(await dig(`@${SRV4}`, '-p', String(PORT), 'example.com', 'A'))).to.equal('REFUSED');
    expect(status(await dig(`@${SRV4}`, '-p', String(PORT), 'b.rustynet', 'MX'))).to.equal('NOERROR');
  });

  it('an update is served without restart', async () => {
    const r = await command({ cmd: 'update', zone: { zone: 'rustynet', nodes: [{ id: 'b', name: 'b', addresses: ['100.64.7.7'] }] } });
    expect(r.event, JSON.stringify(r)).to.equal('updated');
    expect((await dig(`@${SRV4}`, '-p', String(PORT), 'b.rustynet', 'A', '+short')).trim()).to.equal('100.64.7.7');
    expect(status(await dig(`@${SRV4}`, '-p', String(PORT), 'alpha.rustynet', 'A'))).to.equal('NXDOMAIN');
    const bad = await command({ cmd: 'update', zone: { zone: 'rustynet', nodes: [{ id: 'b', name: 'b', addresses: ['nope'] }] } });
    expect(bad).to.include({ event: 'error', code: 'INVALID_INPUT', field: 'nodes[0].addresses[0]' });
    expect((await dig(`@${SRV4}`, '-p', String(PORT), 'b.rustynet', 'A', '+short')).trim()).to.equal('100.64.7.7');
    await command({ cmd: 'update', zone: ZONE });
  });

  it('survives malformed packets from the other namespace', async () => {
    const script = `
      const dgram = require('node:dgram'); const net = require('node:net'); const crypto = require('node:crypto');
      const s = dgram.createSocket('udp4');
      const valid = Buffer.from('12340100000100000000000001620872757374796e65740000010001', 'hex');
      const msgs = [];
      for (let i = 0; i < 200; i++) msgs.push(crypto.randomBytes(i % 64));
      for (let i = 0; i < 100; i++) { const m = Buffer.from(valid); m[12 + (i % 16)] = i * 7; msgs.push(m.subarray(0, 12 + (i % (m.length - 11)))); }
      let left = msgs.length;
      const next = () => { if (left === 0) { s.close(); tcp(); return; } const m = msgs[msgs.length - left--]; s.send(m, ${PORT}, '${SRV4}', () => setImmediate(next)); };
      next();
      function tcp() { const c = net.connect(${PORT}, '${SRV4}', () => { c.write(Buffer.from([0, 5, 1, 2, 3, 4, 5, 0xff, 0xff])); c.write(crypto.randomBytes(300)); c.destroy(); }); c.on('error', () => {}); }
    `;
    await run('ip', ['netns', 'exec', NS_CLI, process.execPath, '-e', script]);
    expect((await dig(`@${SRV4}`, '-p', String(PORT), 'b.rustynet', 'A', '+short')).trim()).to.equal('100.64.0.2');
    expect((await dig(`@${SRV4}`, '-p', String(PORT), '+tcp', 'b.rustynet', 'A', '+short')).trim()).to.equal('100.64.0.2');
    const st = (await command({ cmd: 'stats' })) as { stats: { dropped: { short: number }; answers: Record<string, number> } };
    expect(st.stats.dropped.short).to.be.greaterThan(0);
    expect(st.stats.answers.FORMERR ?? 0).to.be.greaterThan(0);
    expect(server!.exitCode).to.equal(null);
  });

  it('host resolver integration: resolv.conf in the client namespace resolves mesh names', async () => {
    const path = await installNetnsResolvConf(
      NS_CLI,
      renderResolvConf({ nameservers: [SRV4], search: ['rustynet'], options: ['timeout:2'] }),
    );
    try {
      expect(path).to.equal(`/etc/netns/${NS_CLI}/resolv.conf`);
      const { stdout } = await run('ip', ['netns', 'exec', NS_CLI, 'getent', 'ahostsv4', 'b.rustynet']);
      expect(stdout).to.match(/^100\.64\.0\.2\s/m);
      const short = await run('ip', ['netns', 'exec', NS_CLI, 'getent', 'ahostsv4', 'alpha']);
      expect(short.stdout).to.match(/^100\.64\.0\.1\s/m);
      // dig without @server uses the namespace's resolv.conf as well.
      expect((await run('ip', ['netns', 'exec', NS_CLI, 'dig', '+short', 'b.rustynet', 'A'])).stdout.trim()).to.equal('100.64.0.2');
    } finally {
      await removeNetnsResolvConf(NS_CLI);
    }
    expect(existsSync(`/etc/netns/${NS_CLI}`)).to.equal(false);
  });
});
