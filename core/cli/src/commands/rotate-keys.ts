/**
 * `rustynet rotate-keys`: asks the local rustynetd to rotate this node's identity key and backend
 * key (POST /v1/rotate-keys; see core/cli/src/rotate-keys.ts for what the daemon does). Only a
 * daemon that follows a control plane can; on the file flow it refuses with `UNSUPPORTED` and
 * the steps to follow instead (docs/operations/key-rotation.md).
 */
import type { Command } from 'commander';
import { apiRequest, resolveSocket } from '../api-client.js';
import { io, printJson } from '../io.js';
import { addExamples, addJsonOption, addSocketOption } from '../program.js';
import type { RotateKeysReport } from '../rotate-keys.js';

/** Registers `rotate-keys`. */
export function register(program: Command): void {
  const cmd = program
    .command('rotate-keys')
    .description(
      "rotate this node's identity and backend keys: new keys made locally (0600), accepted by the control plane (signed by the old identity), peers switch over",
    );
  addSocketOption(addJsonOption(cmd));
  addExamples(cmd, ['rustynet rotate-keys', 'rustynet rotate-keys --json --socket /run/rustynet/a.sock']);
  cmd.action(async (opts: { socket?: string; json?: boolean }) => {
    const r = (await apiRequest(resolveSocket(opts.socket, io().env), 'POST', '/v1/rotate-keys', {
      timeoutMs: 60_000,
    })) as RotateKeysReport;
    if (opts.json) return printJson(r);
    io().out(
      `rustynet: keys of node ${r.nodeId} rotated (netmap version ${r.version}; data plane switched in ${r.switchMs} ms)\n` +
        `  identity key: ${r.identityKey}\n` +
        Object.entries(r.keys)
          .map(([p, k]) => `  ${p} key: ${k}\n`)
          .join(''),
    );
  });
}
