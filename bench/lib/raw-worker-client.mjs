// Parent side of bench/lib/raw-wg-worker.mjs: starts the worker inside a namespace host and
// sends it one JSON command at a time.
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const WORKER = join(dirname(fileURLToPath(import.meta.url)), 'raw-wg-worker.mjs');

/**
 * Spawns the raw-tool worker on `host` (a conformance-kit TestNetwork host).
 * @returns { cmd(msg, timeoutMs = 120 000) -> reply (throws on `ok: false`, exit or timeout), stop() }
 */
export function startRawWorker(host) {
  const child = host.spawn(process.execPath, [WORKER], {
    stdin: 'pipe',
    stdout: 'pipe',
    stderr: 'inherit',
    buffer: false,
  });
  const lines = createInterface({ input: child.stdout });
  const waiting = [];
  let gone = null;
  lines.on('line', (l) => waiting.shift()?.resolve(JSON.parse(l)));
  void Promise.resolve(child).then((r) => {
    gone = `raw worker exited (code ${r.exitCode}, signal ${r.signal ?? 'none'})`;
    for (const w of waiting.splice(0)) w.reject(new Error(gone));
  });
  return {
    async cmd(msg, timeoutMs = 120_000) {
      if (gone) throw new Error(gone);
      let timer;
      const p = new Promise((resolve, reject) => {
        waiting.push({ resolve, reject });
        timer = setTimeout(() => reject(new Error(`raw worker: no answer to ${msg.op} within ${timeoutMs} ms`)), timeoutMs);
      });
      child.stdin.write(`${JSON.stringify(msg)}\n`);
      const reply = await p.finally(() => clearTimeout(timer));
      if (!reply.ok) throw new Error(`raw worker ${msg.op}: ${reply.error}`);
      return reply;
    },
    async stop() {
      await this.cmd({ op: 'stop' }).catch(() => undefined);
      child.stdin.end();
      await Promise.resolve(child).catch(() => undefined);
    },
  };
}
