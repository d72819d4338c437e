import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import type { Writable } from 'node:stream';
import { processRunning } from '../src/stale.js';

/** Polls until `read()` gives `want` (no time bound: mocha's timeout is). */
async function until(read: () => Promise<string>, want: (s: string) => boolean, what: string): Promise<void> {
  for (;;) {
    const s = await read();
    if (s === '') throw new Error(`${what}: process vanished`);
    if (want(s)) return;
    await new Promise((r) => setTimeout(r, 10));
  }
}

const procFile = (pid: number, file: string) => (): Promise<string> => readFile(`/proc/${pid}/${file}`, 'utf8').catch(() => '');

describe('processRunning (stale openvpn processes)', () => {
  it('is true for a running process and false for one that does not exist', () => {
    expect(processRunning(process.pid)).to.equal(true);
    expect(processRunning(2 ** 22 + 1)).to.equal(false); // above the largest pid_max
  });

  it('is false for a zombie, which kill(pid, 0) still reports as alive', async () => {
    // sh starts a child that waits for one byte on fd 3, then execs into `sleep 30`, which never
    // reaps: once the byte is sent the exited child stays a zombie until its parent ends.
    const parent = spawn('sh', ['-c', 'head -c 1 <&3 >/dev/null & echo $!; exec sleep 30'], {
      stdio: ['ignore', 'pipe', 'ignore', 'pipe'],
    });
    try {
      const child = await new Promise<number>((resolve) => parent.stdout!.once('data', (d: Buffer) => resolve(Number(String(d).trim()))));
      await until(procFile(parent.pid!, 'comm'), (c) => c.trim() === 'sleep', 'parent exec');
      expect(processRunning(child)).to.equal(true);
      (parent.stdio[3] as Writable).end('x');
      await until(procFile(child, 'stat'), (s) => s.slice(s.lastIndexOf(')') + 2).startsWith('Z'), 'child exit');
      expect(() => process.kill(child, 0)).to.not.throw();
      expect(processRunning(child)).to.equal(false);
      expect(processRunning(parent.pid!)).to.equal(true);
    } finally {
      parent.kill('SIGKILL');
    }
  });
});
