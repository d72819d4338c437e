/**
 * `rustynet completion bash|zsh`: prints a shell completion script generated from this program.
 */
import { Argument, type Command } from 'commander';
import { io } from '../io.js';
import { addExamples } from '../program.js';
import { bashCompletion, zshCompletion } from '../diag/completion.js';

/** Registers `completion`. */
export function register(program: Command): void {
  const cmd = program
    .command('completion')
    .description('print a bash or zsh completion script (generated from the command tree)')
    .addArgument(new Argument('<shell>', 'the shell').choices(['bash', 'zsh']));
  addExamples(cmd, [
    'source <(rustynet completion bash)',
    'rustynet completion bash > /etc/bash_completion.d/rustynet',
    'rustynet completion zsh > "${fpath[1]}/_rustynet"',
  ]);
  cmd.action((shell: 'bash' | 'zsh') => {
    io().out(shell === 'bash' ? bashCompletion(program) : zshCompletion(program));
  });
}
