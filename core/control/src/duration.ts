/**
 * Human durations for command-line options: `500ms`, `90s`, `30m`, `1h`, `7d`, or a bare number
 * of seconds; sums such as `1h30m` are accepted.
 */
import { RustynetError } from '@rustynet/plugin-api';

const UNIT_MS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/**
 * Parses a duration to milliseconds.
 * @throws RustynetError `INVALID_INPUT` (`field` as given) when malformed or not positive.
 */
export function parseDuration(text: string, field = 'duration'): number {
  const t = text.trim();
  if (/^\d+$/.test(t) && Number(t) > 0) return Number(t) * 1000;
  const re = /(\d+)(ms|s|m|h|d)/gy;
  let total = 0;
  let end = 0;
  for (let m = re.exec(t); m !== null; m = re.exec(t)) {
    total += Number(m[1]) * (UNIT_MS[m[2] ?? 's'] ?? 0);
    end = re.lastIndex;
  }
  if (t === '' || end !== t.length || total <= 0 || !Number.isSafeInteger(total)) {
    throw new RustynetError('INVALID_INPUT', `${field}: not a duration (e.g. 90s, 30m, 1h, 7d): ${JSON.stringify(text)}`, { field });
  }
  return total;
}
