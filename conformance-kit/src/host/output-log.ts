import type { ManagedProcess } from '@rustynet/plugin-api';

const POLL_MS = 100;
const MAX_BYTES = 8 * 1024 * 1024;

/**
 * The full output of one spawned process, rebuilt from its bounded `outputTail()` (the only
 * view the runner contract gives) by polling every 100 ms until it exits. When more output
 * arrives between two polls than the tail holds, the gap is marked and `lost` is set.
 */
export class OutputLog {
  readonly pid: number;
  private text = '';
  private last = '';
  private lost = false;
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly proc: ManagedProcess,
    readonly file: string,
    readonly args: readonly string[],
  ) {
    this.pid = proc.pid ?? 0;
    this.timer = setInterval(() => this.poll(), POLL_MS);
    this.timer.unref();
    void proc.exited.then(() => {
      this.poll();
      clearInterval(this.timer);
    });
  }

  private poll(): void {
    const tail = this.proc.outputTail();
    if (tail === this.last) return;
    if (tail.startsWith(this.last)) this.text += tail.slice(this.last.length);
    else {
      // the tail slid: find where the previous tail's end is in the new one
      const anchor = this.last.slice(-256);
      const at = anchor ? tail.lastIndexOf(anchor) : -1;
      if (at >= 0) this.text += tail.slice(at + anchor.length);
      else {
        this.text += `\n[... output lost between two polls ...]\n${tail}`;
        this.lost = true;
      }
    }
    this.last = tail;
    if (this.text.length > MAX_BYTES) {
      this.text = this.text.slice(-MAX_BYTES);
      this.lost = true;
    }
  }

  /** Output from `offset` (a length previously returned as `offset + output.length`). */
  since(offset: number): { pid: number; file: string; args: string[]; offset: number; output: string; lost: boolean } {
    this.poll();
    const from = Math.min(offset, this.text.length);
    return { pid: this.pid, file: this.file, args: [...this.args], offset: from, output: this.text.slice(from), lost: this.lost };
  }
}
