/**
 * Continuous UDP probe for `policy.update.no-gap`, started inside a host's namespace as
 * `node udp-probe.js <ip> <port>`. Sends two datagrams every millisecond, opening a fresh socket
 * (a new flow, so a new conntrack entry) every 20 datagrams, until SIGINT or SIGTERM; then prints
 * `{"sent":n,"received":m,"flows":k}` on stdout and exits. Prints `started` once the first datagram left.
 * Not a public API.
 */
import dgram from 'node:dgram';

const [host = '', portArg = '0'] = process.argv.slice(2);
const port = Number(portArg);
const family = host.includes(':') ? 'udp6' : 'udp4';
let sent = 0;
let received = 0;
const sockets: dgram.Socket[] = [];
let current: dgram.Socket | undefined;

function fresh(): dgram.Socket {
  const s = dgram.createSocket(family);
  s.on('message', () => void received++);
  s.on('error', () => undefined);
  sockets.push(s);
  return s;
}

const timer = setInterval(() => {
  for (let i = 0; i < 2; i++) {
    if (!current || sent % 20 === 0) current = fresh();
    current.send(Buffer.from(`gap-probe-${sent}`), port, host);
    sent++;
  }
  if (sent === 2) process.stdout.write('started\n');
}, 1);

function finish(): void {
  clearInterval(timer);
  // let replies in flight arrive
  setTimeout(() => {
    process.stdout.write(`${JSON.stringify({ sent, received, flows: sockets.length })}\n`);
    for (const s of sockets) s.close();
    process.exit(0);
  }, 300);
}
process.on('SIGINT', finish);
process.on('SIGTERM', finish);
