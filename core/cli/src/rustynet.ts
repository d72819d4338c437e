/**
 * The `rustynet` program: node keys, netmaps, and control of a running `rustynetd`.
 */
import type { Command } from 'commander';
import { registerAll } from './commands/index.js';
import type { CliIo } from './io.js';
import { addExamples, createBaseProgram, runProgram } from './program.js';

/** Builds the `rustynet` program with every command group registered. */
export function createRustynetProgram(): Command {
  const program = createBaseProgram('rustynet', 'Rustynet mesh VPN: keys, netmaps, and control of the local rustynetd');
  program.addHelpText(
    'after',
    '\nThe local API socket defaults to /run/rustynet/rustynetd.sock; --socket or RUSTYNET_SOCKET overrides it.',
  );
  addExamples(program, [
    'rustynet keygen --out /etc/rustynet/keys --backend @rustynet/backend-wireguard',
    'rustynet netmap sign --key cp/control-plane.key --in netmap.json --out netmap.signed.json',
    'rustynet status',
    'rustynet plugin list --json',
  ]);
  registerAll(program);
  return program;
}

/**
 * Runs `rustynet` with `argv` (`process.argv` shape).
 * @returns the exit status (0 ok, 1 failure, 2 usage / load error).
 */
export function runCli(argv: readonly string[], io?: CliIo): Promise<number> {
  return runProgram(createRustynetProgram(), argv, io);
}
