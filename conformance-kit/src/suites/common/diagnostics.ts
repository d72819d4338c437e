/** Helpers the suites' `diagnostics()` share to build failure reports. */
import { readFile } from 'node:fs/promises';

/** The last `n` lines of `text`, trimmed. */
export function lastLines(text: string, n: number): string {
  return text.split('\n').slice(-n).join('\n').trim();
}

/** The last `max` warning, error and fatal lines (pino levels 40, 50, 60) of a JSON-lines log; '' when unreadable. */
export async function logWarnings(logFile: string, max: number): Promise<string> {
  const log = await readFile(logFile, 'utf8').catch(() => '');
  return log
    .split('\n')
    .filter((l) => /"level":(4|5|6)0/.test(l))
    .slice(-max)
    .join('\n');
}

/** Replaces every secret token in `text` by `<private key>` (never copy key material into reports). */
export function redact(text: string, tokens: readonly string[]): string {
  return tokens.reduce((acc, k) => acc.split(k).join('<private key>'), text);
}
