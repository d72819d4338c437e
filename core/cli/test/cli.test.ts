import { expect } from 'chai';
import { createServer, type Server } from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRustynetProgram } from '../src/rustynet.js';
import { DEFAULT_SOCKET, resolveSocket } from '../src/api-client.js';
import { renderStatus } from '../src/commands/status.js';
import { QUIET_UP } from './helpers.js';
import { formatBytes, formatDuration } from '../src/format.js';
import type { Command } from 'commander';
import { rn, rnd } from './helpers.js';

function allCommands(cmd: Command, path: string[] = []): Array<{ path: string[]; cmd: Command }> {
  const out: Array<{ path: string[]; cmd: Command }> = [];
  for (const sub of cmd.commands) {
    const p = [...path, sub.name()];
    out.push({ path: p, cmd: sub });
    out.push(...allCommands(sub, p));
  }
  return out;
}

describe('rustynet CLI: help and argument parsing', () => {
  it('has the agreed command tree', () => {
    const paths = allCommands(createRustynetProgram()).map((c) => c.path.join(' '));
    for (const p of [
      'status',
      'up',
      'down',
      'keygen',
      'netmap sign',
      'netmap verify',
      'netmap reload',
      'plugin list',
      'plugin test',
      'plugin init',
      'metrics',
      'service install',
    ]) {
      expect(paths, p).to.include(p);
    }
  });

  it('prints --help with examples and exit statuses for every command, exit 0', async () => {
    const commands = allCommands(createRustynetProgram()).filter((c) => c.cmd.name() !== 'help');
    expect(commands.length).to.be.greaterThan(8);
    for (const { path, cmd } of commands) {
      const r = await rn([...path, '--help']);
      expect(r.code, path.join(' ')).to.equal(0);
      expect(r.stdout, path.join(' ')).to.contain(`Usage: rustynet ${path.join(' ')}`);
      // Every runnable command shows examples (groups list their subcommands).
      if (cmd.commands.length === 0) expect(r.stdout, path.join(' ')).to.contain('Examples:');
      expect(r.stdout, path.join(' ')).to.match(/Exit status:\n\s+0 .*\n\s+1 .*\n\s+2 /);
    }
    const top = await rn(['--help']);
    expect(top.code).to.equal(0);
    expect(top.stdout).to.contain('RUSTYNET_SOCKET');
  });

  it('--json is offered where output is data', async () => {
    for (const p of [
      ['status'],
      ['up'],
      ['down'],
      ['keygen'],
      ['netmap', 'verify'],
      ['plugin', 'list'],
      ['metrics'],
      ['service', 'install'],
    ]) {
      const r = await rn([...p, '--help']);
      expect(r.stdout, p.join(' ')).to.contain('--json');
    }
  });

  it('usage errors print "rustynet: INVALID_INPUT: ..." on stderr and exit 2', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['frobnicate'], /unknown command 'frobnicate'/],
      [['status', '--bogus'], /unknown option '--bogus'/],
      [['keygen'], /required option '--out <dir>' not specified/],
      [['netmap', 'sign'], /required option '--key <file>'/],
      [['netmap', 'verify', 'x.json'], /required option '--pubkey/],
      [['plugin', 'test'], /missing required argument 'plugin'/],
      [['plugin', 'test', 'x', '--reporter', 'tap'], /Allowed choices are spec, json, junit/],
      [['plugin', 'init', 'foo'], /required option '--kind <kind>'/],
      [['plugin', 'init', 'foo', '--kind', 'toaster'], /Allowed choices are backend, policy, dns, relay/],
      [
        [
          'relay',
          'serve',
          '--listen',
          '127.0.0.1:3478',
          '--netmap',
          'n.json',
          '--control-plane-key',
          Buffer.alloc(32).toString('base64'),
          '--metrics-listen',
          'localhost',
        ],
        /--metrics-listen: expected <ip>:<port>/,
      ],
      [['service', 'install', '--root', '/nonexistent-rn-root', '--metrics-port', '0'], /--metrics-port/],
    ];
    for (const [args, re] of cases) {
      const r = await rn(args);
      expect(r.code, args.join(' ')).to.equal(2);
      expect(r.stdout, args.join(' ')).to.equal('');
      expect(r.stderr.split('\n')[0], args.join(' ')).to.match(/^rustynet: INVALID_INPUT: /);
      expect(r.stderr, args.join(' ')).to.match(re);
    }
  });

  it('rejects a bad --seed / --timeout-multiplier as INVALID_INPUT (exit 2) before loading the kit', async () => {
    const a = await rn(['plugin', 'test', './x', '--seed', '-1']);
    expect(a.code).to.equal(2);
    expect(a.stderr).to.match(/^rustynet: INVALID_INPUT: --seed must be a non-negative integer/);
    const b = await rn(['plugin', 'test', './x', '--timeout-multiplier', '0']);
    expect(b.code).to.equal(2);
    expect(b.stderr).to.match(/--timeout-multiplier must be a positive number/);
  });

  it('--version prints the package version', async () => {
    const r = await rn(['--version']);
    expect(r.code).to.equal(0);
    expect(r.stdout.trim()).to.match(/^\d+\.\d+\.\d+/);
  });

  it('rustynetd: --help documents signals; without --config it reads $RUSTYNET_CONFIG_DIR/rustynetd.json', async () => {
    const h = await rnd(['--help']);
    expect(h.code).to.equal(0);
    expect(h.stdout).to.contain('SIGHUP');
    expect(h.stdout).to.contain('Examples:');
    expect(h.stdout).to.contain('/etc/rustynet/rustynetd.json');
    const r = await rnd([], { RUSTYNET_CONFIG_DIR: '/nonexistent-rustynet-etc' });
    expect(r.code).to.equal(2);
    expect(r.stderr).to.match(/^rustynetd: CONFIG_INVALID: \/nonexistent-rustynet-etc\/rustynetd\.json: cannot be read/);
  });
});

describe('rustynet CLI: socket selection', () => {
  it('uses --socket, else RUSTYNET_SOCKET, else the default', () => {
    expect(resolveSocket('/x.sock', { RUSTYNET_SOCKET: '/y.sock' })).to.equal('/x.sock');
    expect(resolveSocket(undefined, { RUSTYNET_SOCKET: '/y.sock' })).to.equal('/y.sock');
    expect(resolveSocket(undefined, {})).to.equal(DEFAULT_SOCKET);
    expect(DEFAULT_SOCKET).to.equal('/run/rustynet/rustynetd.sock');
  });

  it('reports NOT_RUNNING (exit 1) when nothing listens on the socket', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'rn-cli-'));
    try {
      const r = await rn(['status'], { env: { RUSTYNET_SOCKET: join(dir, 'none.sock') } });
      expect(r.code).to.equal(1);
      expect(r.stderr).to.match(/^rustynet: NOT_RUNNING: rustynetd is not running \(no local API at .*none\.sock/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('rustynet CLI: local API over a unix socket', () => {
  let dir: string;
  let server: Server;
  let socket: string;
  const seen: string[] = [];
  const status = {
    node: 'a',
    state: 'up',
    netmap: { version: 7, appliedAt: new Date().toISOString(), expiresAt: new Date(Date.now() + 3_600_000).toISOString() },
    lastRejection: { code: 'NETMAP_EXPIRED', message: 'netmap expired at 2020-01-01T00:00:00Z', at: new Date().toISOString() },
    backend: { name: '@example/backend', version: '1.2.3', apiVersion: '1.0', interfaces: ['rnab0'], listenPort: 51820 },
    peers: [
      {
        id: 'b',
        endpoint: '198.18.0.2:51820',
        path: 'direct',
        allowedIps: ['100.64.0.2/32'],
        lastHandshakeAt: new Date().toISOString(),
        rxBytes: 2048,
        txBytes: 100,
      },
      { id: 'c', endpoint: null, path: 'relay', allowedIps: ['100.64.0.3/32'], lastHandshakeAt: null, rxBytes: 0, txBytes: 0 },
    ],
    plugins: [
      {
        name: '@example/backend',
        version: '1.2.3',
        kind: 'backend',
        apiVersion: '1.0',
        capabilities: { ipv6: true, roaming: false, maxPeers: 1000 },
      },
    ],
    policy: null,
    dns: { listen: ['127.0.0.1:53'], ok: true, lastError: null, failures: 0 },
  };

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'rn-cli-'));
    socket = join(dir, 'api.sock');
    server = createServer((req, res) => {
      seen.push(`${req.method} ${req.url}`);
      const send = (code: number, body: unknown): void => {
        res.writeHead(code, { 'content-type': 'application/json' });
        res.end(JSON.stringify(body));
      };
      const routes: Array<[string, string, number, unknown]> = [
        ['GET', '/v1/status', 200, status],
        ['GET', '/v1/plugins', 200, status.plugins],
        ['POST', '/v1/up', 200, { state: 'up' }],
        ['POST', '/v1/down', 409, { error: { code: 'NOT_RUNNING', message: 'already down' } }],
        ['POST', '/v1/netmap/reload', 422, { error: { code: 'NETMAP_REPLAYED', message: 'version 3 <= watermark 7' } }],
      ];
      const route = routes.find(([method, url]) => req.method === method && req.url === url);
      if (route) {
        send(route[2], route[3]);
        return;
      }
      send(404, { error: { code: 'UNSUPPORTED', message: 'no route' } });
    });
    await new Promise<void>((r) => server.listen(socket, r));
  });
  after(async () => {
    await new Promise<void>((r) => server.close(() => r()));
    await rm(dir, { recursive: true, force: true });
  });

  it('status --json prints the document unchanged', async () => {
    const r = await rn(['status', '--json', '--socket', socket]);
    expect(r.code).to.equal(0);
    expect(JSON.parse(r.stdout)).to.deep.equal(status);
    expect(seen).to.include('GET /v1/status');
  });

  it('status prints a peer table and the last rejection', async () => {
    const r = await rn(['status'], { env: { RUSTYNET_SOCKET: socket } });
    expect(r.code).to.equal(0);
    expect(r.stdout).to.contain('node a: up');
    expect(r.stdout).to.contain('netmap version 7');
    expect(r.stdout).to.contain('last rejected netmap: NETMAP_EXPIRED');
    expect(r.stdout).to.match(/PEER\s+ENDPOINT\s+PATH\s+HANDSHAKE\s+RX\s+TX/);
    expect(r.stdout).to.match(/\nb\s+198\.18\.0\.2:51820\s+direct\s+\d+s ago\s+2\.0 KiB\s+100 B/);
    expect(r.stdout).to.match(/\nc\s+-\s+relay\s+never\s+0 B\s+0 B/);
  });

  it('status refuses a document that is not a daemon status, naming the fields (exit 1)', async () => {
    const odd = join(dir, 'odd.sock');
    const other = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ ...status, state: 'sleeping', peers: undefined }));
    });
    await new Promise<void>((r) => other.listen(odd, r));
    try {
      const r = await rn(['status', '--json', '--socket', odd]);
      expect(r.code).to.equal(1);
      expect(r.stdout).to.equal('');
      // --json: the error is one JSON object on stderr; without it, the one-line form.
      const err = (JSON.parse(r.stderr) as { error: { code: string; message: string } }).error;
      expect(err.code).to.equal('INTERNAL');
      expect(err.message).to.match(/^local API \/v1\/status on .*odd\.sock returned a document that is not a daemon status: /);
      expect(err.message).to.contain("must have required property 'peers'");
      expect(err.message).to.contain('/state must be equal to one of the allowed values');
      const text = await rn(['status', '--socket', odd]);
      expect(text.code).to.equal(1);
      expect(text.stderr).to.match(
        /^rustynet: INTERNAL: local API \/v1\/status on .*odd\.sock returned a document that is not a daemon status: /,
      );
    } finally {
      await new Promise<void>((r) => other.close(() => r()));
    }
  });

  it('plugin list prints name, kind, version, API version and capabilities', async () => {
    const r = await rn(['plugin', 'list', '--socket', socket]);
    expect(r.code).to.equal(0);
    expect(r.stdout).to.match(/@example\/backend\s+backend\s+1\.2\.3\s+1\.0\s+ipv6,maxPeers=1000/);
    const j = await rn(['plugin', 'list', '--json', '--socket', socket]);
    expect(JSON.parse(j.stdout)).to.deep.equal(status.plugins);
  });

  it('up posts /v1/up; down and netmap reload surface the daemon error code with exit 1', async () => {
    const up = await rn(['up', '--socket', socket]);
    expect(up.code).to.equal(0);
    expect(seen).to.include('POST /v1/up');
    const down = await rn(['down', '--socket', socket]);
    expect(down.code).to.equal(1);
    expect(down.stderr).to.equal('rustynet: NOT_RUNNING: already down\n');
    const reload = await rn(['netmap', 'reload', '--socket', socket]);
    expect(reload.code).to.equal(1);
    expect(reload.stderr).to.equal('rustynet: NETMAP_REPLAYED: version 3 <= watermark 7\n');
  });
});

describe('rustynet CLI: formatting', () => {
  it('formats bytes and durations', () => {
    expect(formatBytes(0)).to.equal('0 B');
    expect(formatBytes(1536)).to.equal('1.5 KiB');
    expect(formatBytes(5 * 1024 * 1024)).to.equal('5.0 MiB');
    expect(formatDuration(42_000)).to.equal('42s');
    expect(formatDuration(303_000)).to.equal('5m3s');
    expect(formatDuration(2 * 3_600_000 + 600_000)).to.equal('2h10m');
  });

  it('renders a status without netmap or peers', () => {
    const text = renderStatus({ ...QUIET_UP, state: 'down' });
    expect(text).to.contain('node x: down');
    expect(text).to.contain('netmap none applied');
    expect(text).to.contain('no peers');
  });

  it('shows the data plane health once a fault happened, with its reason', () => {
    const quiet = renderStatus({
      ...QUIET_UP,
      dataPlane: { state: 'ok', reason: null, restores: { ok: 0, failed: 0 }, lastRestore: null },
    });
    expect(quiet).to.not.contain('data plane');
    const text = renderStatus({
      ...QUIET_UP,
      dataPlane: {
        state: 'restoring',
        reason: { code: 'BACKEND_FAILED', message: 'data-plane process exited', at: new Date().toISOString() },
        restores: { ok: 1, failed: 2 },
        lastRestore: null,
      },
    });
    expect(text).to.match(/data plane restoring: BACKEND_FAILED .*data-plane process exited \(restores: 1 ok, 2 failed\)/);
  });

  it('shows a failed audit start-up check, and nothing while it passed', () => {
    const at = new Date().toISOString();
    expect(renderStatus({ ...QUIET_UP, audit: { ok: true, checkedAt: at } })).to.not.contain('audit');
    const text = renderStatus({ ...QUIET_UP, audit: { ok: false, checkedAt: at, brokenAt: 4, reason: 'record 4: hash does not match' } });
    expect(text).to.match(/audit log FAILED its start-up check .* at record 4: record 4: hash does not match .*rustynet audit status/);
  });

  it('renders an expired netmap as failed closed', () => {
    const text = renderStatus({
      ...QUIET_UP,
      state: 'expired',
      netmap: { version: 3, appliedAt: '2026-01-01T00:00:00Z', expiresAt: '2026-01-01T01:00:00Z', expired: true },
    });
    expect(text).to.contain('node x: expired');
    expect(text).to.contain('netmap EXPIRED: failed closed');
  });

  it('renders the exit node state: serving, and a kill switch blocking when the exit is down', () => {
    const base = QUIET_UP;
    expect(renderStatus({ ...base, exit: null })).to.not.contain('exit');
    expect(
      renderStatus({ ...base, exit: { node: null, serving: true, killSwitch: 'off', lanAccess: false, lastHandshakeAt: null } }),
    ).to.contain('exit node: serving');
    const text = renderStatus({
      ...base,
      exit: { node: 'gw', serving: false, killSwitch: 'blocking', lanAccess: true, lastHandshakeAt: null },
    });
    expect(text).to.contain(
      'exit via gw: kill switch BLOCKING (exit unreachable: traffic dropped, not leaked), LAN access on, handshake never',
    );
  });
});
