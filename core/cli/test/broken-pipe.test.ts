/**
 * `rustynet --help | head` and `rustynetd --help | head`: when the reader of standard output is
 * gone before the executable writes, it ends quietly with status 0 instead of crashing on an
 * unhandled EPIPE. The read end of the child's stdout pipe is closed right after the spawn, long
 * before node has loaded the CLI, so every write of the help text meets a closed pipe.
 */
import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const BINS = {
  rustynet: fileURLToPath(new URL('../src/bin/rustynet.js', import.meta.url)),
  rustynetd: fileURLToPath(new URL('../src/bin/rustynetd.js', import.meta.url)),
};

/** Runs `bin args` with its stdout pipe closed by the reader; @returns exit status, signal and stderr. */
function runWithClosedStdout(bin: string, args: string[]): Promise<{ code: number | null; signal: string | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [bin, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.destroy();
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stderr }));
  });
}

describe('the executables stop quietly when their output pipe is closed (EPIPE) (unit)', function () {
  this.timeout(60_000);
  for (const [name, bin] of Object.entries(BINS)) {
    it(`${name} --help | head: status 0, nothing on stderr`, async () => {
      const r = await runWithClosedStdout(bin, ['--help']);
      expect(r.stderr).to.not.contain('EPIPE');
      expect(r.stderr).to.equal('');
      expect(r).to.include({ code: 0, signal: null });
    });
  }

  it('rustynet status --help with a closed pipe: status 0 too (a sub-command)', async () => {
    const r = await runWithClosedStdout(BINS.rustynet, ['status', '--help']);
    expect(r).to.include({ code: 0, signal: null, stderr: '' });
  });
});
