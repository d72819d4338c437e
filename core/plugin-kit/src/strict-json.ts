/**
 * Strict JSON for signed data: I-JSON (RFC 7493) rejects an object with two members of the same
 * name, where `JSON.parse` silently keeps the last one. Two readers of one signed document could
 * then disagree on what was signed, so every parser of signed data (daemon, relay, CLI) uses
 * {@link parseStrictJson}.
 *
 * The text is parsed by `JSON.parse` (syntax, values). Then the members are counted twice: in
 * the text (every `:` outside a string of valid JSON separates one member's name from its value)
 * and in the parsed value (own keys of every object). `JSON.parse` makes one object per object
 * literal and keeps one member per distinct name, so the counts are equal exactly when no object
 * names a member twice. Only when they differ (or the value is too deep to walk) is the text
 * scanned by the event-based `visit` of `jsonc-parser` to name the repeated member; that scan is
 * ~30x slower than the two counts (a 250 KiB netmap: ≈ 30 ms against ≈ 1 ms).
 */
import { createRequire } from 'node:module';
import { RustynetError } from '@rustynet/plugin-api';

type JsoncParser = typeof import('jsonc-parser');
let jsonc: JsoncParser | undefined;

/**
 * `jsonc-parser`, loaded on first use: only a text whose member counts differ is scanned, so a
 * daemon that never receives a repeated member never loads it (≈ 0.4 MiB of heap).
 */
function jsoncParser(): JsoncParser {
  jsonc ??= createRequire(import.meta.url)('jsonc-parser') as JsoncParser;
  return jsonc;
}

/** Options of {@link parseStrictJson}. */
export interface StrictJsonOptions {
  /** What the text is, for messages (e.g. `netmap file /etc/rustynet/netmap.json`); default `JSON text`. */
  what?: string;
  /** Prefix of the `field` of a duplicate-key error, e.g. `netmap` (default: none). */
  fieldPrefix?: string;
  /** Largest accepted text, in UTF-8 bytes; checked before any parsing. Default: no limit. */
  maxBytes?: number;
}

/** A JSON path segment as `jsonc-parser` reports it. */
/** One step of a JSON path: a member name or an array index. */
export type Segment = string | number;

/** `nodes[2].id`-style field name of a member `key` inside the object at `path`. */
export function jsonFieldName(path: readonly Segment[], key?: string, prefix?: string): string {
  let out = prefix ?? '';
  for (const seg of [...path, ...(key === undefined ? [] : [key])]) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else if (/^[A-Za-z_$][A-Za-z0-9_$-]*$/.test(seg)) out += out === '' ? seg : `.${seg}`;
    else out += `[${JSON.stringify(seg)}]`;
  }
  return out === '' ? '$' : out;
}

/**
 * The first duplicate member name in `text`, or undefined. `text` must be valid JSON (parse it
 * first): on invalid JSON the answer is undefined or a duplicate seen before the error. Names are
 * compared after unescaping, so `"a"` and `"\u0061"` are the same member.
 * @throws RustynetError `INVALID_INPUT` when the document is nested too deeply to scan.
 */
export function findDuplicateKey(
  text: string,
  fieldPrefix?: string,
):
  | {
      /** Dotted path of the repeated member, e.g. `netmap.nodes[2].id`. */
      field: string;
      /** The repeated member name. */
      key: string;
      /** Character offset of the second occurrence in `text`. */
      offset: number;
    }
  | undefined {
  const open: Array<Set<string>> = [];
  let found: { field: string; key: string; offset: number } | undefined;
  try {
    jsoncParser().visit(
      text,
      {
        onObjectBegin: () => {
          open.push(new Set());
        },
        onObjectEnd: () => {
          open.pop();
        },
        onObjectProperty: (name, offset, _length, _line, _char, pathSupplier) => {
          const names = open[open.length - 1];
          if (found || names === undefined) return;
          if (names.has(name)) found = { field: jsonFieldName(pathSupplier(), name, fieldPrefix), key: name, offset };
          else names.add(name);
        },
      },
      { disallowComments: true, allowTrailingComma: false, allowEmptyContent: false },
    );
  } catch (err) {
    if (err instanceof RangeError) throw new RustynetError('INVALID_INPUT', 'JSON text is nested too deeply', { cause: err });
    throw err;
  }
  return found;
}

/**
 * Parses `text` as I-JSON: valid JSON (RFC 8259) whose objects never name a member twice
 * (RFC 7493 section 2.3). Optionally refuses a text over `maxBytes` before parsing it.
 * @returns the parsed value, as `JSON.parse` gives it.
 * @throws RustynetError `INVALID_INPUT` (not JSON, too large, nested too deeply; `details.limit`
 *   and `details.size` for size), `DUPLICATE_KEY` with `field` naming the repeated member (e.g.
 *   `netmap.nodes[2].id`).
 */
export function parseStrictJson(text: string, opts: StrictJsonOptions = {}): unknown {
  const what = opts.what ?? 'JSON text';
  if (opts.maxBytes !== undefined) {
    const size = Buffer.byteLength(text, 'utf8');
    if (size > opts.maxBytes) {
      throw new RustynetError('INVALID_INPUT', `${what} is larger than ${opts.maxBytes} bytes`, {
        details: { limit: opts.maxBytes, size },
      });
    }
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new RustynetError('INVALID_INPUT', `${what} is not valid JSON (${(err as Error).message})`, { cause: err });
  }
  if (!maybeDuplicate(text, value)) return value;
  const dup = findDuplicateKey(text, opts.fieldPrefix);
  if (dup) {
    throw new RustynetError('DUPLICATE_KEY', `${what}: member ${JSON.stringify(dup.key)} appears twice at ${dup.field} (RFC 7493)`, {
      field: dup.field,
      details: { offset: dup.offset },
    });
  }
  return value;
}

/**
 * False when `value` (parsed from the valid JSON `text`) provably has no repeated member: the
 * members in the text equal the own keys of its objects. True when they differ or the value is
 * too deep to walk (then {@link findDuplicateKey} decides).
 */
function maybeDuplicate(text: string, value: unknown): boolean {
  let parsed: number;
  try {
    parsed = countParsedMembers(value);
  } catch (err) {
    if (err instanceof RangeError) return true;
    throw err;
  }
  return countTextMembers(text) !== parsed;
}

/** Own keys of every object in `value`, recursively. @throws RangeError when too deep. */
function countParsedMembers(value: unknown): number {
  if (value === null || typeof value !== 'object') return 0;
  let n = 0;
  if (Array.isArray(value)) {
    for (const v of value) n += countParsedMembers(v);
    return n;
  }
  const obj = value as Record<string, unknown>;
  for (const k of Object.keys(obj)) {
    n++;
    n += countParsedMembers(obj[k]);
  }
  return n;
}

/** The `:` outside strings in valid JSON `text`: one per object member. */
function countTextMembers(text: string): number {
  let n = 0;
  const len = text.length;
  for (let i = 0; i < len; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x3a) n++;
    else if (c === 0x22) {
      // skip the string: to the next quote not escaped (valid JSON: it exists)
      for (i++; i < len; i++) {
        const d = text.charCodeAt(i);
        if (d === 0x5c) i++;
        else if (d === 0x22) break;
      }
    }
  }
  return n;
}
