/**
 * `rustynet metrics`: the daemon's Prometheus metrics, read over the local API socket.
 */
import type { Command } from 'commander';
import { io, printJson } from '../io.js';
import { parsePromText } from '../prom-text.js';
import { addExamples, addJsonOption, addSocketOption, apiClient } from '../program.js';

interface MetricsOpts {
  socket?: string;
  json?: boolean;
  match?: string;
}

/** Registers `metrics`. */
export function register(program: Command): void {
  const metrics = program
    .command('metrics')
    .description("print rustynetd's metrics (Prometheus text format, or --json) from the local API")
    .option('--match <text>', 'only metric families whose name contains <text>');
  addSocketOption(addJsonOption(metrics));
  metrics.addHelpText(
    'after',
    `
The same metrics are served at GET /metrics of the optional TCP listener (config "metrics.listen";
see docs/operations/production.md). Names: docs/operations/production.md#metrics.`,
  );
  addExamples(metrics, [
    'rustynet metrics',
    'rustynet metrics --match rustynet_peer_',
    'rustynet metrics --json | jq \'.[] | select(.name=="rustynet_peers") | .samples[0].value\'',
  ]);
  metrics.action(async (opts: MetricsOpts) => {
    const text = await apiClient(opts).metrics();
    const families = parsePromText(text).filter((f) => opts.match === undefined || f.name.includes(opts.match));
    if (opts.json) {
      printJson(families);
      return;
    }
    if (opts.match === undefined) {
      io().out(text.endsWith('\n') ? text : `${text}\n`);
      return;
    }
    const names = new Set(families.flatMap((f) => [f.name, ...f.samples.map((s) => s.name)]));
    const keep = text.split('\n').filter((l) => {
      const name = l.startsWith('#') ? l.split(/\s+/)[2] : l.split(/[{\s]/)[0];
      return name !== undefined && names.has(name);
    });
    io().out(keep.length > 0 ? `${keep.join('\n')}\n` : '');
  });
}
