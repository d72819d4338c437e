// `--help` / `-h` for every bench script: prints the script's leading comment block (its usage,
// what it measures, what it needs) and exits 0, before the bench touches anything (no namespace,
// no build check). Each bench calls it first thing after its imports:
//
//   import { exitWithHelpIfAsked } from './lib/help.mjs';
//   exitWithHelpIfAsked(import.meta.url);
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The leading comment block of a script (after an optional shebang): `//` lines, or one block
 * comment, without the comment markers. Stops at the first line that is not part of it.
 * @param {string} text the script's source text
 * @returns {string}
 */
export function leadingComment(text) {
  const lines = text.split('\n');
  if (lines[0]?.startsWith('#!')) lines.shift();
  const out = [];
  if (lines[0]?.startsWith('/*')) {
    for (const line of lines) {
      const end = line.includes('*/');
      const body = line
        .replace(/^\/\*\*? ?/, '')
        .replace(/\*\/.*$/, '')
        .replace(/^\s*\* ?/, '');
      if (body.trim() !== '' || out.length > 0) out.push(body);
      if (end) break;
    }
    return out.join('\n').trimEnd();
  }
  for (const line of lines) {
    if (!line.startsWith('//')) break;
    out.push(line.replace(/^\/\/ ?/, ''));
  }
  return out.join('\n').trimEnd();
}

/**
 * When `argv` asks for help (`--help` or `-h` before any `--`), prints the calling script's
 * leading comment block to stdout and exits 0.
 * @param {string} scriptUrl the caller's `import.meta.url`
 * @param {string[]} [argv] arguments to look at (default: process.argv without node and script)
 */
export function exitWithHelpIfAsked(scriptUrl, argv = process.argv.slice(2)) {
  const dashdash = argv.indexOf('--');
  const own = dashdash >= 0 ? argv.slice(0, dashdash) : argv;
  if (!own.includes('--help') && !own.includes('-h')) return;
  const file = fileURLToPath(scriptUrl);
  const text = leadingComment(readFileSync(file, 'utf8'));
  console.log(text || `${basename(file)}: no usage text`);
  process.exit(0);
}
