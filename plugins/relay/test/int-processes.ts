/** Child processes of the relay integration test (backends-over-relay.int.test.ts). */
import { execFile, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';

const execFileP = promisify(execFile);

/** Runs `file` (stdin `input` when given) and returns its stdout. @throws the child's failure. */
export async function run(file: string, args: string[], input?: string): Promise<string> {
  const p = execFileP(file, args, { encoding: 'utf8' });
  if (input !== undefined) p.child.stdin!.end(input);
  return (await p).stdout;
}

/** True when `file args` exits 0. */
export async function tryRun(file: string, args: string[]): Promise<boolean> {
  try {
    await run(file, args);
    return true;
  } catch {
    return false;
  }
}

/** True when every tool is on the PATH. */
export async function have(...tools: string[]): Promise<boolean> {
  for (const t of tools) if (!(await tryRun('sh', ['-c', `command -v ${t}`]))) return false;
  return true;
}

/** A process whose stdout is JSON lines; `next()` resolves with the next parsed line. */
export class JsonProc {
  private lines: unknown[] = [];
  private waiters: Array<(v: unknown) => void> = [];
  stderr = '';
  constructor(readonly child: ChildProcess) {
    createInterface({ input: child.stdout! }).on('line', (l) => {
      let v: unknown;
      try {
        v = JSON.parse(l);
      } catch {
        return;
      }
      const w = this.waiters.shift();
      if (w) w(v);
      else this.lines.push(v);
    });
    child.stderr!.on('data', (d: Buffer) => (this.stderr += d.toString()));
  }
  next(): Promise<unknown> {
    if (this.lines.length) return Promise.resolve(this.lines.shift());
    return new Promise((resolve, reject) => {
      this.waiters.push(resolve);
      this.child.once('exit', (code) => reject(new Error(`process exited (${code}): ${this.stderr}`)));
    });
  }
  async query(): Promise<unknown> {
    this.child.stdin!.write('query\n');
    return this.next();
  }
}
