/**
 * Datagram flood sender, run by the kit inside a test namespace:
 * `node flood-sender.js <ip> <port[,port...]> <packetsPerSecond> <seconds> <seed>` (ports in turn).
 * Sends junk and handshake-shaped datagrams (WireGuard message types 1-4, OpenVPN hard-reset
 * opcodes, random lengths) at the given rate, in bursts every 10 ms, and stops after `seconds`
 * or `packetsPerSecond * seconds` datagrams, whichever comes first. Prints one JSON line
 * `{ sent, errors, elapsedMs }` at the end. The kit only points it at addresses of its own
 * namespaces; the bound in count and time is enforced here too.
 */
import { createSocket } from 'node:dgram';

/** Pseudo-random bytes (xorshift) from a seed, so runs are reproducible. */
function bytes(seed: number, n: number): Buffer {
  const b = Buffer.alloc(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    b[i] = x & 0xff;
  }
  return b;
}

/** The datagrams the flood cycles through. */
export function floodTemplates(seed: number): Buffer[] {
  const shaped = (head: number[], len: number, s: number): Buffer => {
    const b = bytes(seed + s, len);
    Buffer.from(head).copy(b);
    return b;
  };
  return [
    shaped([1, 0, 0, 0], 148, 1), // WireGuard handshake initiation
    shaped([2, 0, 0, 0], 92, 2), // handshake response
    shaped([3, 0, 0, 0], 64, 3), // cookie reply
    shaped([4, 0, 0, 0], 96, 4), // transport data with a bogus receiver index
    shaped([0x38], 14, 5), // OpenVPN P_CONTROL_HARD_RESET_CLIENT_V2
    shaped([0x50], 42, 6), // OpenVPN P_CONTROL_HARD_RESET_CLIENT_V3
    bytes(seed + 7, 1),
    bytes(seed + 8, 200),
    bytes(seed + 9, 1400),
  ];
}

const MAX_SECONDS = 30;
const MAX_PPS = 100_000;

function main(argv: string[]): void {
  const [ip, portS, ppsS, secondsS, seedS] = argv;
  const ports = (portS ?? '').split(',').map(Number);
  const pps = Math.min(MAX_PPS, Number(ppsS));
  const seconds = Math.min(MAX_SECONDS, Number(secondsS));
  if (!ip || ports.length === 0 || !ports.every((p) => p > 0 && p < 65536) || !(pps > 0) || !(seconds > 0)) {
    process.stderr.write('usage: flood-sender <ip> <port[,port...]> <pps> <seconds> <seed>\n');
    process.exit(2);
  }
  const templates = floodTemplates(Number(seedS) || 1);
  const total = Math.floor(pps * seconds);
  const sock = createSocket(ip.includes(':') ? 'udp6' : 'udp4');
  let sent = 0;
  let queued = 0;
  let errors = 0;
  const t0 = Date.now();
  const finish = (): void => {
    clearInterval(timer);
    const done = (): void => {
      process.stdout.write(`${JSON.stringify({ sent, errors, elapsedMs: Date.now() - t0 })}\n`);
      sock.close();
      process.exit(0);
    };
    const wait = setInterval(() => {
      if (sent + errors >= queued || Date.now() - t0 > (seconds + 2) * 1000) {
        clearInterval(wait);
        done();
      }
    }, 10);
  };
  const tick = (): void => {
    const elapsed = Date.now() - t0;
    const due = Math.min(total, Math.floor((elapsed / 1000) * pps));
    // keep at most one second of datagrams in flight
    while (queued < due && queued - sent - errors < pps) {
      const b = templates[queued % templates.length] ?? templates[0];
      const port = ports[Math.floor(queued / templates.length) % ports.length] ?? 1;
      queued++;
      sock.send(b ?? Buffer.alloc(1), port, ip, (err) => {
        if (err) errors++;
        else sent++;
      });
    }
    if (queued >= total || elapsed >= seconds * 1000) finish();
  };
  const timer = setInterval(tick, 10);
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split('/').pop() ?? '\0')) main(process.argv.slice(2));
