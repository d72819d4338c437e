import { expect } from 'chai';
import type { ManagedProcess } from '@rustynet/plugin-api';
import { OutputLog } from '../src/host/output-log.js';
import { snapshotNews } from '../src/suites/common/snapshot.js';

/** A process whose output tail (bounded to `max` bytes) the test writes. */
function fakeProcess(max: number): { proc: ManagedProcess; write: (s: string) => void; exit: () => void } {
  let tail = '';
  let done: (v: { exitCode: number | null; signal: string | null }) => void = () => undefined;
  const exited = new Promise<{ exitCode: number | null; signal: string | null }>((r) => (done = r));
  return {
    proc: { pid: 4242, exited, kill: () => undefined, outputTail: () => tail },
    write: (s) => void (tail = (tail + s).slice(-max)),
    exit: () => done({ exitCode: 0, signal: null }),
  };
}

describe('--keep-logs and residue helpers (unit)', () => {
  it('OutputLog rebuilds the full output from a sliding tail and reads on from an offset', () => {
    const f = fakeProcess(600);
    const log = new OutputLog(f.proc, 'wireguard-go', ['-f', 'rn0']);
    let expected = '';
    for (let i = 0; i < 50; i++) {
      const line = `line ${i} ${'x'.repeat(20)}\n`;
      expected += line;
      f.write(line);
      log.since(0); // a poll between writes (the host polls every 100 ms)
    }
    const all = log.since(0);
    expect(all.output).to.equal(expected);
    expect(all.lost).to.equal(false);
    expect(all.args).to.deep.equal(['-f', 'rn0']);
    const more = log.since(all.output.length);
    expect(more.output).to.equal('');
    f.exit();
  });

  it('OutputLog marks a gap when more arrived between two polls than the tail holds', () => {
    const f = fakeProcess(300);
    const log = new OutputLog(f.proc, 'x', []);
    f.write('start of it all\n');
    log.since(0);
    for (let i = 0; i < 40; i++) f.write(`burst ${i} ${'y'.repeat(30)}\n`);
    const r = log.since(0);
    expect(r.lost).to.equal(true);
    expect(r.output).to.include('output lost');
    f.exit();
  });

  it('snapshotNews lists only what is new, per category', () => {
    expect(
      snapshotNews(
        { links: ['lo', 'eth0'], rules6: ['0: from all lookup local'] },
        { links: ['lo', 'eth0', 'rn1a'], rules6: ['0: from all lookup local'] },
      ),
    ).to.deep.equal({
      links: ['rn1a'],
    });
  });
});
