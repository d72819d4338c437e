/**
 * Helper process of the relay suite, one per test host. Started as
 * `ip netns exec <netns> node agent.js` with an IPC channel, so its sockets live in the host's
 * namespace. It runs the relay server under test (the package's `createRelayServer`), stands in
 * for backends (plain UDP sockets on loopback), and acts as the unregistered prober and the junk
 * flooder. Not a public API: {@link RelayAgent} drives it.
 */
import { createHash, randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import { pathToFileURL } from 'node:url';

interface Request {
  id: number;
  op: string;
  args: Record<string, unknown>;
}

/** A datagram a socket received (content summarised). */
export interface Received {
  /** `host:port` of the sender. */
  from: string;
  len: number;
  /** SHA-256 of the datagram, hex. */
  sha: string;
  /** The datagram in base64 when it is at most 2048 bytes. */
  data?: string;
}

interface ServerLike {
  start(): Promise<{ host: string; port: number }>;
  stop(): Promise<void>;
  stats?: () => unknown;
}

interface SockState {
  sock: dgram.Socket;
  received: Received[];
  count: number;
  bytes: number;
  echo: boolean;
}

const servers = new Map<string, ServerLike>();
const sockets = new Map<number, SockState>();
let nextSock = 1;
let flood: { running: boolean; sent: number; done: Promise<void> } | undefined;

function fam(host: string): 'udp4' | 'udp6' {
  return host.includes(':') ? 'udp6' : 'udp4';
}

function summarise(msg: Buffer, from: string): Received {
  const r: Received = { from, len: msg.length, sha: createHash('sha256').update(msg).digest('hex') };
  if (msg.length <= 2048) r.data = msg.toString('base64');
  return r;
}

async function bindSocket(host: string, port: number): Promise<dgram.Socket> {
  const sock = dgram.createSocket({ type: fam(host), recvBufferSize: 4 << 20 });
  await new Promise<void>((resolve, reject) => {
    sock.once('error', reject);
    sock.bind({ address: host, port, exclusive: true }, () => {
      sock.off('error', reject);
      resolve();
    });
  });
  sock.on('error', () => undefined);
  return sock;
}

async function openSocket(host: string, port: number, echo: boolean): Promise<{ id: number; port: number }> {
  const sock = await bindSocket(host, port);
  const st: SockState = { sock, received: [], count: 0, bytes: 0, echo };
  sock.on('message', (msg, rinfo) => {
    st.count++;
    st.bytes += msg.length;
    if (st.received.length < 5000) st.received.push(summarise(msg, `${rinfo.address}:${rinfo.port}`));
    if (st.echo) sock.send(msg, rinfo.port, rinfo.address);
  });
  const id = nextSock++;
  sockets.set(id, st);
  return { id, port: sock.address().port };
}

function sock(id: number): SockState {
  const s = sockets.get(id);
  if (!s) throw new Error(`no socket ${id}`);
  return s;
}

/** Sends in small bursts (at most ~128 KiB each) so the receiver's socket buffer is not the bottleneck. */
function sendAll(s: dgram.Socket, payloads: Buffer[], port: number, host: string): Promise<void> {
  const largest = payloads.reduce((m, p) => Math.max(m, p.length), 1);
  const per = Math.max(1, Math.min(16, Math.floor(131072 / largest)));
  const pause = largest > 8192 ? 2 : 0;
  return new Promise((resolve) => {
    let i = 0;
    const next = (): void => {
      const burst = payloads.slice(i, i + per);
      let left = burst.length;
      if (left === 0) return void resolve();
      for (const b of burst)
        s.send(b, port, host, () => {
          if (--left === 0) {
            i += burst.length;
            if (i >= payloads.length) resolve();
            else if (pause > 0) setTimeout(next, pause);
            else setImmediate(next);
          }
        });
    };
    next();
  });
}

/** Sequential echo rounds: each round sends a fresh payload until its echo comes back (or attempts run out). */
async function echoRounds(
  id: number,
  host: string,
  port: number,
  rounds: number,
  attempts: number,
  waitMs: number,
  size: number,
  budgetMs: number,
): Promise<{ ok: number; attemptsUsed: number; outOfBudget: boolean }> {
  const s = sock(id);
  const end = budgetMs > 0 ? Date.now() + budgetMs : Infinity;
  let ok = 0;
  let used = 0;
  for (let r = 0; r < rounds; r++) {
    if (Date.now() > end) return { ok, attemptsUsed: used, outOfBudget: true };
    const payload = Buffer.concat([Buffer.from(`echo-${r}-`), randomBytes(Math.max(1, size - 8))]);
    let got = false;
    for (let a = 0; a < attempts && !got; a++) {
      used++;
      got = await new Promise<boolean>((resolve) => {
        const onMsg = (msg: Buffer): void => {
          if (msg.equals(payload)) finish(true);
        };
        const finish = (v: boolean): void => {
          clearTimeout(timer);
          s.sock.off('message', onMsg);
          resolve(v);
        };
        const timer = setTimeout(() => finish(false), waitMs);
        s.sock.on('message', onMsg);
        s.sock.send(payload, port, host);
      });
    }
    if (got) ok++;
  }
  return { ok, attemptsUsed: used, outOfBudget: false };
}

/** Sends each payload from its own socket; returns per payload the bytes sent and received back. */
async function probe(
  host: string,
  port: number,
  payloads: Buffer[],
  quietMs: number,
): Promise<{ sent: number; received: number; replies: number }[]> {
  const socks = await Promise.all(payloads.map(() => bindSocket(host.includes(':') ? '::' : '0.0.0.0', 0)));
  const res = payloads.map((p) => ({ sent: p.length, received: 0, replies: 0 }));
  let last: number;
  socks.forEach((s, i) =>
    s.on('message', (msg) => {
      res[i].received += msg.length;
      res[i].replies++;
      last = Date.now();
    }),
  );
  for (let i = 0; i < payloads.length; i++) await new Promise<void>((r) => socks[i].send(payloads[i], port, host, () => r()));
  last = Date.now();
  // wait until no reply came for `quietMs`
  while (Date.now() - last < quietMs) await new Promise((r) => setTimeout(r, 50));
  await Promise.all(socks.map((s) => new Promise<void>((r) => s.close(() => r()))));
  return res;
}

function startFlood(host: string, port: number, templates: Buffer[], max: number): void {
  const s = dgram.createSocket(fam(host));
  const st = { running: true, sent: 0, done: Promise.resolve() };
  st.done = new Promise<void>((resolve) => {
    const junk = (): Buffer => {
      const n = st.sent % 4;
      if (templates.length > 0 && n !== 0) return templates[st.sent % templates.length];
      return randomBytes(1 + (st.sent % 1200));
    };
    const tick = (): void => {
      if (!st.running || st.sent >= max) {
        st.running = false;
        s.close(() => resolve());
        return;
      }
      let left = 32;
      for (let i = 0; i < 32; i++) {
        st.sent++;
        s.send(junk(), port, host, () => {
          if (--left === 0) setImmediate(tick);
        });
      }
    };
    tick();
  });
  flood = st;
}

const b64 = (a: unknown): Buffer[] => (a as string[]).map((p) => Buffer.from(p, 'base64'));

async function handle(req: Request): Promise<unknown> {
  const a = req.args;
  switch (req.op) {
    case 'serverCreate': {
      const mod = (await import(pathToFileURL(a['module'] as string).href)) as { createRelayServer?: (o: unknown) => ServerLike };
      if (typeof mod.createRelayServer !== 'function') throw new Error('the package exports no createRelayServer');
      const srv = mod.createRelayServer(a['options']);
      const ep = await srv.start();
      servers.set(a['name'] as string, srv);
      return ep;
    }
    case 'serverStop': {
      const srv = servers.get(a['name'] as string);
      if (srv) await srv.stop();
      return null;
    }
    case 'serverStats': {
      const srv = servers.get(a['name'] as string);
      return srv && typeof srv.stats === 'function' ? JSON.parse(JSON.stringify(srv.stats())) : null;
    }
    case 'open':
      return await openSocket(a['host'] as string, a['port'] as number, a['echo'] === true);
    case 'send': {
      const s = sock(a['id'] as number);
      await sendAll(s.sock, b64(a['payloads']), a['port'] as number, a['host'] as string);
      return null;
    }
    case 'sendMany': {
      const s = sock(a['id'] as number);
      const n = a['count'] as number;
      const size = a['size'] as number;
      const tag = a['tag'] as string;
      const payloads = Array.from({ length: n }, (_, i) => {
        const p = Buffer.alloc(size, 0x61);
        Buffer.from(`${tag}-${i}-`).copy(p);
        return p;
      });
      const t0 = Date.now();
      await sendAll(s.sock, payloads, a['port'] as number, a['host'] as string);
      return { sendMs: Date.now() - t0 };
    }
    case 'received': {
      const s = sock(a['id'] as number);
      const out = { count: s.count, bytes: s.bytes, received: s.received };
      if (a['clear'] === true) {
        s.received = [];
        s.count = 0;
        s.bytes = 0;
      }
      return out;
    }
    case 'close': {
      const s = sockets.get(a['id'] as number);
      sockets.delete(a['id'] as number);
      if (s) await new Promise<void>((r) => s.sock.close(() => r()));
      return null;
    }
    case 'echoRounds':
      return await echoRounds(
        a['id'] as number,
        a['host'] as string,
        a['port'] as number,
        a['rounds'] as number,
        a['attempts'] as number,
        a['waitMs'] as number,
        a['size'] as number,
        (a['budgetMs'] as number | undefined) ?? 0,
      );
    case 'probe':
      return await probe(a['host'] as string, a['port'] as number, b64(a['payloads']), a['quietMs'] as number);
    case 'floodStart':
      if (flood?.running) throw new Error('a flood is already running');
      startFlood(a['host'] as string, a['port'] as number, b64(a['templates']), a['max'] as number);
      return null;
    case 'floodCount':
      return { sent: flood?.sent ?? 0, running: flood?.running ?? false };
    case 'floodStop': {
      const f = flood;
      if (!f) return { sent: 0, finishedEarly: false };
      const finishedEarly = !f.running;
      f.running = false;
      await f.done;
      return { sent: f.sent, finishedEarly };
    }
    default:
      throw new Error(`unknown op ${req.op}`);
  }
}

process.on('message', (raw: unknown) => {
  const req = raw as Request;
  handle(req).then(
    (result) => process.send?.({ id: req.id, result: result ?? null }),
    (err: unknown) =>
      process.send?.({
        id: req.id,
        error: { message: err instanceof Error ? err.message : String(err), code: (err as { code?: unknown } | null)?.code },
      }),
  );
});
async function shutdown(): Promise<void> {
  if (flood) flood.running = false;
  await Promise.all([...servers.values()].map((s) => s.stop().catch(() => undefined)));
  process.exit(0);
}
process.on('disconnect', () => void shutdown());
process.on('SIGTERM', () => void shutdown());
process.send?.({ ready: true });
