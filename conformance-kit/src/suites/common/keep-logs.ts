/**
 * `--keep-logs <dir>`: after every test, what each plugin host ran and spawned since the previous
 * test goes to `<dir>/<test id>/<host label>/`: `commands.jsonl` (every command with its
 * arguments and, for `run`, its full stdout, stderr and exit code), `process-<pid>.log` (the full
 * output of each spawned process) and `timeline.json` (the daemon hook timeline).
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { PluginHost } from '../../host/plugin-host-client.js';

interface Cursor {
  since: number;
  offsets: Record<string, number>;
}

/** Writes per-test logs of a set of plugin hosts (see the module comment). */
export class LogKeeper {
  private readonly cursors = new Map<PluginHost, Cursor>();

  /** @param dir - the `--keep-logs` directory. */
  constructor(private readonly dir: string) {}

  /** Writes what `hosts` did since the last call into `<dir>/<testId>/`. Dead hosts are skipped. */
  async save(testId: string, hosts: readonly PluginHost[]): Promise<void> {
    const seen = new Map<string, number>();
    for (const h of hosts) {
      if (h.hasExited) continue;
      const n = (seen.get(h.label) ?? 0) + 1;
      seen.set(h.label, n);
      const dir = join(this.dir, testId, n === 1 ? h.label : `${h.label}-${n}`);
      const cur = this.cursors.get(h) ?? { since: 0, offsets: {} };
      const [logs, timeline] = await Promise.all([h.logs(cur.since, cur.offsets), h.timeline().catch(() => null)]);
      await mkdir(dir, { recursive: true });
      await writeFile(
        join(dir, 'commands.jsonl'),
        logs.commands.map((c) => JSON.stringify(c)).join('\n') + (logs.commands.length ? '\n' : ''),
      );
      for (const p of logs.processes) {
        if (p.output === '' && p.offset > 0) continue;
        await writeFile(
          join(dir, `process-${p.pid}.log`),
          `# ${p.file} ${p.args.join(' ')} (output from byte ${p.offset}${p.lost ? '; some output was lost' : ''})\n${p.output}`,
        );
        cur.offsets[String(p.pid)] = p.offset + p.output.length;
      }
      await writeFile(join(dir, 'timeline.json'), `${JSON.stringify(timeline, null, 2)}\n`);
      cur.since = logs.commands.at(-1)?.seq ?? cur.since;
      this.cursors.set(h, cur);
    }
  }
}
