/**
 * A tiny traffic agent run inside a test namespace with `ip netns exec <ns> node probe-agent.js`.
 *
 *   server --tcp 22,80 --udp 53     TCP/UDP echo servers on [::] (IPv4 too); prints "ready".
 *   client                          reads JSON commands on stdin, answers JSON lines on stdout:
 *     {id, op:"probe", proto:"tcp"|"udp"|"icmp", src, dst, port?, timeoutMs}
 *        -> {id, ok, detail}   (tcp: handshake done or RST; udp: echo received; icmp: ping reply)
 *     {id, op:"loop", proto:"tcp"|"udp", src, dst, port, everyMs, timeoutMs} -> {id, started:true}
 *     {id, op:"stopLoop", loop:<id of the loop command>} -> {id, attempts, successes}
 */
import { execFile } from 'node:child_process';
import dgram from 'node:dgram';
import net from 'node:net';
import readline from 'node:readline';

function list(flag: string): number[] {
  const i = process.argv.indexOf(flag);
  const v = i >= 0 ? process.argv[i + 1] : undefined;
  return v ? v.split(',').filter(Boolean).map(Number) : [];
}

async function server(): Promise<void> {
  const waits: Array<Promise<void>> = [];
  for (const port of list('--tcp')) {
    const srv = net.createServer((sock) => {
      sock.on('error', () => undefined);
      sock.pipe(sock);
    });
    waits.push(new Promise((res, rej) => srv.listen({ host: '::', port, ipv6Only: false }, res).on('error', rej)));
  }
  for (const port of list('--udp')) {
    const s = dgram.createSocket({ type: 'udp6', ipv6Only: false });
    s.on('message', (msg, rinfo) => s.send(msg, rinfo.port, rinfo.address));
    waits.push(new Promise((res, rej) => s.bind(port, '::', () => res()).on('error', rej)));
  }
  await Promise.all(waits);
  process.stdout.write('ready\n');
}

function tcpProbe(src: string, dst: string, port: number, timeoutMs: number): Promise<{ ok: boolean; detail: string }> {
  return new Promise((resolve) => {
    const sock = net.connect({ host: dst, port, localAddress: src });
    const done = (ok: boolean, detail: string): void => {
      clearTimeout(timer);
      sock.destroy();
      resolve({ ok, detail });
    };
    const timer = setTimeout(() => done(false, 'timeout'), timeoutMs);
    sock.on('connect', () => done(true, 'connected'));
    sock.on('error', (e: NodeJS.ErrnoException) => done(e.code === 'ECONNREFUSED', e.code ?? String(e)));
  });
}

function udpSocket(src: string): dgram.Socket {
  return dgram.createSocket(net.isIPv6(src) ? 'udp6' : 'udp4');
}

function udpProbe(src: string, dst: string, port: number, timeoutMs: number): Promise<{ ok: boolean; detail: string }> {
  return new Promise((resolve) => {
    const s = udpSocket(src);
    const done = (ok: boolean, detail: string): void => {
      clearTimeout(timer);
      s.close();
      resolve({ ok, detail });
    };
    const timer = setTimeout(() => done(false, 'timeout'), timeoutMs);
    s.on('message', () => done(true, 'echo'));
    s.on('error', (e) => done(false, String(e)));
    s.bind(0, src, () => s.send('probe', port, dst));
  });
}

function icmpProbe(src: string, dst: string, timeoutMs: number): Promise<{ ok: boolean; detail: string }> {
  return new Promise((resolve) => {
    const w = Math.max(0.2, timeoutMs / 1000).toFixed(1);
    execFile('ping', ['-n', '-c', '1', '-W', w, '-I', src, dst], (err) => resolve({ ok: !err, detail: err ? 'no reply' : 'reply' }));
  });
}

interface Loop {
  attempts: number;
  successes: number;
  stop: () => Promise<void>;
}

function startLoop(cmd: Record<string, unknown>): Loop {
  const src = String(cmd['src']);
  const dst = String(cmd['dst']);
  const port = Number(cmd['port']);
  const everyMs = Number(cmd['everyMs'] ?? 5);
  const timeoutMs = Number(cmd['timeoutMs'] ?? 500);
  const loop: Loop = { attempts: 0, successes: 0, stop: async () => undefined };
  if (cmd['proto'] === 'udp') {
    // One socket, one datagram every everyMs: any echo means a datagram got through.
    const s = udpSocket(src);
    s.on('message', () => loop.successes++);
    s.on('error', () => undefined);
    let timer: NodeJS.Timeout | undefined;
    s.bind(0, src, () => {
      timer = setInterval(() => {
        loop.attempts++;
        s.send('gap', port, dst);
      }, everyMs);
    });
    loop.stop = async () => {
      clearInterval(timer);
      await new Promise((r) => setTimeout(r, timeoutMs));
      s.close();
    };
  } else {
    // A new TCP connection every everyMs (a fresh SYN each time).
    const inflight = new Set<Promise<unknown>>();
    const timer = setInterval(() => {
      loop.attempts++;
      const p = tcpProbe(src, dst, port, timeoutMs).then((r) => {
        if (r.ok) loop.successes++;
        inflight.delete(p);
      });
      inflight.add(p);
    }, everyMs);
    loop.stop = async () => {
      clearInterval(timer);
      await Promise.all([...inflight]);
    };
  }
  return loop;
}

async function client(): Promise<void> {
  const loops = new Map<string, Loop>();
  const rl = readline.createInterface({ input: process.stdin });
  const reply = (o: unknown): void => void process.stdout.write(JSON.stringify(o) + '\n');
  rl.on('line', (line) => {
    const cmd = JSON.parse(line) as Record<string, unknown>;
    const id = String(cmd['id']);
    const src = String(cmd['src']);
    const dst = String(cmd['dst']);
    const timeoutMs = Number(cmd['timeoutMs'] ?? 500);
    switch (cmd['op']) {
      case 'probe': {
        const p =
          cmd['proto'] === 'tcp'
            ? tcpProbe(src, dst, Number(cmd['port']), timeoutMs)
            : cmd['proto'] === 'udp'
              ? udpProbe(src, dst, Number(cmd['port']), timeoutMs)
              : icmpProbe(src, dst, timeoutMs);
        void p.then((r) => reply({ id, ...r }));
        break;
      }
      case 'loop':
        loops.set(id, startLoop(cmd));
        reply({ id, started: true });
        break;
      case 'stopLoop': {
        const l = loops.get(String(cmd['loop']));
        if (!l) return reply({ id, error: 'no such loop' });
        loops.delete(String(cmd['loop']));
        void l.stop().then(() => reply({ id, attempts: l.attempts, successes: l.successes }));
        break;
      }
      default:
        reply({ id, error: 'unknown op' });
    }
  });
  rl.on('close', () => process.exit(0));
}

if (process.argv[2] === 'server') void server();
else if (process.argv[2] === 'client') void client();
else {
  process.stderr.write('usage: probe-agent server|client\n');
  process.exit(2);
}
