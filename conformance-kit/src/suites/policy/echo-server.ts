/**
 * Dual-stack (IPv4 and IPv6) TCP and UDP echo server for the policy suite, started inside a
 * host's namespace as `node echo-server.js <tcp ports,> <udp ports,>`. Prints `ready` on stdout
 * once every port is bound. Not a public API.
 */
import dgram from 'node:dgram';
import net from 'node:net';

const [tcpArg = '', udpArg = ''] = process.argv.slice(2);
const ports = (s: string): number[] => s.split(',').filter(Boolean).map(Number);

async function main(): Promise<void> {
  const binds: Promise<void>[] = [];
  for (const port of ports(tcpArg)) {
    const srv = net.createServer((c) => {
      c.on('data', (d) => c.write(d));
      c.on('error', () => undefined);
    });
    binds.push(
      new Promise((resolve, reject) => {
        srv.once('error', reject);
        srv.listen({ port, host: '::', ipv6Only: false }, () => resolve());
      }),
    );
  }
  for (const port of ports(udpArg)) {
    const sock = dgram.createSocket({ type: 'udp6', ipv6Only: false });
    sock.on('message', (msg, rinfo) => sock.send(msg, rinfo.port, rinfo.address));
    sock.on('error', () => undefined);
    binds.push(
      new Promise((resolve, reject) => {
        sock.once('error', reject);
        sock.bind(port, '::', () => resolve());
      }),
    );
  }
  await Promise.all(binds);
  process.stdout.write('ready\n');
}

main().catch((err: unknown) => {
  process.stderr.write(`echo-server: ${String(err)}\n`);
  process.exit(1);
});
process.on('SIGTERM', () => process.exit(0));
process.on('disconnect', () => process.exit(0));
