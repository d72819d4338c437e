/**
 * Finds a repeated member name in a JSON object. `JSON.parse` silently keeps the last of
 * duplicate keys, so two readers of one document could disagree; the fault model asks hostile
 * input like that to be refused with a named error instead.
 */

/**
 * The first member name that appears twice in one object of `text`, or undefined.
 * `text` must already be valid JSON (call after `JSON.parse` succeeded).
 */
export function findDuplicateKey(text: string): string | undefined {
  const stack: Array<Set<string> | null> = [];
  let expectKey = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text.charCodeAt(i);
    if (ch === 0x22 /* " */) {
      let j = i + 1;
      while (text.charCodeAt(j) !== 0x22) j += text.charCodeAt(j) === 0x5c /* \ */ ? 2 : 1;
      if (expectKey) {
        const key = JSON.parse(text.slice(i, j + 1)) as string;
        const members = stack[stack.length - 1];
        if (members) {
          if (members.has(key)) return key;
          members.add(key);
        }
        expectKey = false;
      }
      i = j;
    } else if (ch === 0x7b /* { */) {
      stack.push(new Set());
      expectKey = true;
    } else if (ch === 0x5b /* [ */) {
      stack.push(null);
      expectKey = false;
    } else if (ch === 0x7d /* } */ || ch === 0x5d /* ] */) {
      stack.pop();
      expectKey = false;
    } else if (ch === 0x2c /* , */) {
      expectKey = (stack[stack.length - 1] ?? null) !== null;
    }
  }
  return undefined;
}
