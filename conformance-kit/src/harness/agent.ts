/**
 * Per-host helper process of the test-network harness. It is started as
 * `ip netns exec <netns> node agent.js` with an IPC channel, so its sockets live in the host's
 * network namespace. It serves UDP and TCP echo servers and acts as their client.
 * Not a public API: {@link TestHost} drives it.
 */
import dgram from 'node:dgram';
import net from 'node:net';

interface Request {
  id: number;
  op: string;
  args: Record<string, unknown>;
}

const servers = new Map<number, { close(): void }>();
let nextServer = 1;

function send(msg: unknown): void {
  process.send?.(msg);
}

function family(host: string): 'udp4' | 'udp6' {
  return host.includes(':') ? 'udp6' : 'udp4';
}

async function udpServer(port: number, tag: string, bind?: string): Promise<number> {
  const sock = dgram.createSocket({ type: bind && bind.includes(':') ? 'udp6' : 'udp4' });
  await new Promise<void>((resolve, reject) => {
    sock.once('error', reject);
    sock.bind(port, bind ?? '0.0.0.0', () => resolve());
  });
  sock.on('message', (msg, rinfo) => {
    const reply = msg.toString() === 'whoami' ? Buffer.from(tag) : msg;
    sock.send(reply, rinfo.port, rinfo.address);
  });
  const id = nextServer++;
  servers.set(id, { close: () => sock.close() });
  return id;
}

async function tcpServer(port: number, tag: string): Promise<number> {
  const srv = net.createServer((c) => {
    c.on('data', (d) => {
      if (d.toString() === 'whoami') c.end(tag);
      else c.write(d);
    });
    c.on('error', () => undefined);
  });
  await new Promise<void>((resolve, reject) => {
    srv.once('error', reject);
    srv.listen(port, '0.0.0.0', () => resolve());
  });
  const id = nextServer++;
  servers.set(id, { close: () => srv.close() });
  return id;
}

/** Sends each payload once and collects replies equal to a sent payload. */
async function udpRequest(host: string, port: number, payloads: string[], timeoutMs: number): Promise<(string | null)[]> {
  const sock = dgram.createSocket(family(host));
  const wanted = payloads.map((p) => Buffer.from(p, 'base64'));
  const got: (string | null)[] = payloads.map(() => null);
  let remaining = wanted.length;
  return await new Promise((resolve) => {
    const finish = (): void => {
      clearTimeout(timer);
      sock.close();
      resolve(got);
    };
    const timer = setTimeout(finish, timeoutMs);
    sock.on('error', () => finish());
    sock.on('message', (msg) => {
      // single payload: accept any reply (e.g. the answer to `whoami`)
      if (wanted.length === 1) {
        if (got[0] === null) {
          got[0] = msg.toString('base64');
          remaining--;
        }
      } else {
        const i = wanted.findIndex((w, j) => got[j] === null && w.equals(msg));
        if (i >= 0) {
          got[i] = msg.toString('base64');
          remaining--;
        }
      }
      if (remaining === 0) finish();
    });
    let i = 0;
    const sendNext = (): void => {
      // pace the sends a little so the sender's socket buffer does not overflow
      const burst = wanted.slice(i, i + 16);
      for (const b of burst) sock.send(b, port, host);
      i += burst.length;
      if (i < wanted.length) setTimeout(sendNext, 2);
    };
    sendNext();
  });
}

async function tcpRequest(host: string, port: number, payload: string, timeoutMs: number): Promise<string | null> {
  const data = Buffer.from(payload, 'base64');
  const expectAny = data.toString() === 'whoami';
  return await new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let len = 0;
    let done = false;
    const c = net.connect({ host, port });
    const finish = (v: string | null): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      c.destroy();
      resolve(v);
    };
    const timer = setTimeout(() => finish(null), timeoutMs);
    c.on('connect', () => c.write(data));
    c.on('data', (d) => {
      chunks.push(d);
      len += d.length;
      if (!expectAny && len >= data.length) finish(Buffer.concat(chunks).toString('base64'));
    });
    c.on('end', () => finish(len > 0 ? Buffer.concat(chunks).toString('base64') : null));
    c.on('error', () => finish(null));
  });
}

process.on('message', (raw: unknown) => {
  const req = raw as Request;
  const a = req.args;
  const handle = async (): Promise<unknown> => {
    switch (req.op) {
      case 'udpServer':
        return await udpServer(a['port'] as number, a['tag'] as string, a['bind'] as string | undefined);
      case 'tcpServer':
        return await tcpServer(a['port'] as number, a['tag'] as string);
      case 'close': {
        servers.get(a['id'] as number)?.close();
        servers.delete(a['id'] as number);
        return null;
      }
      case 'udpRequest':
        return await udpRequest(a['host'] as string, a['port'] as number, a['payloads'] as string[], a['timeoutMs'] as number);
      case 'tcpRequest':
        return await tcpRequest(a['host'] as string, a['port'] as number, a['payload'] as string, a['timeoutMs'] as number);
      default:
        throw new Error(`unknown op ${req.op}`);
    }
  };
  handle().then(
    (result) => send({ id: req.id, result }),
    (err: unknown) => send({ id: req.id, error: err instanceof Error ? err.message : String(err) }),
  );
});
process.on('disconnect', () => process.exit(0));
send({ ready: true });
