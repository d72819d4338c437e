import { expect } from 'chai';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseState, parseStatus, queryManagement } from '../src/management.js';

// Captured from openvpn 2.6.14 (p2p, TLS) management interface version 5.
const STATE = ['1795455756,CONNECTED,SUCCESS,100.64.0.1,198.18.0.2,11195,,'];
const STATUS = [
  'OpenVPN STATISTICS',
  'Updated,2026-11-23 17:42:48',
  'TUN/TAP read bytes,520',
  'TUN/TAP write bytes,472',
  'TCP/UDP read bytes,1974',
  'TCP/UDP write bytes,2031',
  'Auth read bytes,472',
];

describe('management interface', () => {
  it('parses the state line', () => {
    expect(parseState(STATE)).to.deep.equal({
      at: 1795455756000,
      state: 'CONNECTED',
      description: 'SUCCESS',
      localTunnelIp: '100.64.0.1',
      remoteHost: '198.18.0.2',
      remotePort: 11195,
    });
    const waiting = parseState(['>STATE:ignored', '1795455700,WAIT,,,,,,']);
    expect(waiting?.state).to.equal('WAIT');
    expect(waiting?.remotePort).to.equal(undefined);
    expect(parseState([])).to.equal(undefined);
    expect(parseState(['garbage'])).to.equal(undefined);
  });

  it('parses p2p status counters', () => {
    expect(parseStatus(STATUS)).to.deep.equal({ tunReadBytes: 520, tunWriteBytes: 472, linkReadBytes: 1974, linkWriteBytes: 2031 });
    expect(parseStatus([])).to.deep.equal({ tunReadBytes: 0, tunWriteBytes: 0, linkReadBytes: 0, linkWriteBytes: 0 });
  });

  it('talks to a UNIX socket: waits for the banner, skips notifications, splits replies', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rn-ovpn-mgmt-'));
    const path = join(dir, 'm.sock');
    const received: string[] = [];
    const server = createServer((sock) => {
      sock.setEncoding('utf8');
      sock.write(">INFO:OpenVPN Management Interface Version 5 -- type 'help' for more info\n");
      sock.on('data', (d: string) => {
        for (const cmd of d.split('\n').filter(Boolean)) {
          received.push(cmd);
          if (cmd === 'state') sock.write(`>BYTECOUNT:1,2\n${STATE[0]}\nEND\n`);
          if (cmd === 'status') sock.write(`${STATUS.join('\n')}\nEND\n`);
          if (cmd === 'signal SIGUSR1') sock.write('SUCCESS: signal SIGUSR1 thrown\n');
        }
      });
    });
    await new Promise<void>((r) => server.listen(path, r));
    try {
      const [st, status, sig] = await queryManagement(path, ['state', 'status', 'signal SIGUSR1']);
      expect(st).to.deep.equal(STATE);
      expect(status).to.deep.equal(STATUS);
      expect(sig).to.deep.equal(['SUCCESS: signal SIGUSR1 thrown']);
      expect(received.slice(0, 3)).to.deep.equal(['state', 'status', 'signal SIGUSR1']);
    } finally {
      server.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('rejects when nothing listens', async () => {
    let failed = false;
    await queryManagement('/nonexistent/rn-ovpn.sock', ['state'], 500).catch(() => (failed = true));
    expect(failed).to.equal(true);
  });
});
