import { expect } from 'chai';
import fc from 'fast-check';
import { isRustynetError } from '@rustynet/plugin-api';
import { findDuplicateKey, parseStrictJson } from '../src/index.js';

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
    return undefined;
  } catch (err) {
    return isRustynetError(err) ? err.code : `not a RustynetError: ${String(err)}`;
  }
}

function thrown(fn: () => unknown): { code?: string; field?: string } {
  try {
    fn();
  } catch (err) {
    if (isRustynetError(err)) return { code: err.code, ...(err.field !== undefined && { field: err.field }) };
    throw err;
  }
  throw new Error('expected a throw');
}

describe('plugin-kit: strict JSON (RFC 7493)', () => {
  it('parses what JSON.parse parses when no key repeats', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (v) => {
        const text = JSON.stringify(v);
        expect(parseStrictJson(text)).to.deep.equal(JSON.parse(text));
      }),
      { numRuns: 300 },
    );
  });

  it('refuses a repeated member at any depth, naming the field', () => {
    expect(thrown(() => parseStrictJson('{"a":1,"a":2}'))).to.deep.equal({ code: 'DUPLICATE_KEY', field: 'a' });
    expect(thrown(() => parseStrictJson('{"nodes":[{"id":"x"},{"id":"y","id":"z"}]}', { fieldPrefix: 'netmap' }))).to.deep.equal({
      code: 'DUPLICATE_KEY',
      field: 'netmap.nodes[1].id',
    });
    expect(thrown(() => parseStrictJson('{"a b":{"c":1,"c":1}}'))).to.deep.equal({ code: 'DUPLICATE_KEY', field: '["a b"].c' });
  });

  it('compares member names after unescaping', () => {
    expect(codeOf(() => parseStrictJson('{"a":1,"\\u0061":2}'))).to.equal('DUPLICATE_KEY');
    expect(codeOf(() => parseStrictJson('{"\\ud83d\\ude00":1,"😀":2}'))).to.equal('DUPLICATE_KEY');
    expect(codeOf(() => parseStrictJson('{"__proto__":1,"__proto__":2}'))).to.equal('DUPLICATE_KEY');
  });

  it('allows the same name in sibling and nested objects', () => {
    expect(parseStrictJson('{"a":{"a":{"a":1}},"b":[{"a":1},{"a":2}]}')).to.deep.equal({ a: { a: { a: 1 } }, b: [{ a: 1 }, { a: 2 }] });
  });

  it('finds a duplicate inserted anywhere in a random document (fuzzed)', () => {
    const obj = fc.dictionary(fc.string({ maxLength: 6 }), fc.jsonValue({ maxDepth: 3 }), { minKeys: 1, maxKeys: 8 });
    fc.assert(
      fc.property(obj, fc.jsonValue({ maxDepth: 2 }), fc.nat(), (o, dupValue, pick) => {
        const keys = Object.keys(o);
        const key = keys[pick % keys.length] ?? '';
        // Append a second member with an existing name, inside an array wrapper.
        const inner = JSON.stringify(o);
        const text = `[1,${inner.slice(0, -1)},${JSON.stringify(key)}:${JSON.stringify(dupValue)}}]`;
        const found = findDuplicateKey(text);
        expect(found?.key).to.equal(key);
        expect(codeOf(() => parseStrictJson(text))).to.equal('DUPLICATE_KEY');
      }),
      { numRuns: 300 },
    );
  });

  it('never accepts what JSON.parse refuses, and throws only RustynetErrors (fuzzed)', () => {
    const noisy = fc.oneof(
      fc.string({ maxLength: 40 }),
      fc.jsonValue().map((v) => JSON.stringify(v)),
      fc
        .tuple(
          fc.jsonValue().map((v) => JSON.stringify(v)),
          fc.nat(),
          fc.string({ maxLength: 3 }),
        )
        .map(([t, at, ins]) => t.slice(0, at % (t.length + 1)) + ins + t.slice(at % (t.length + 1))),
    );
    fc.assert(
      fc.property(noisy, (text) => {
        let ok = true;
        try {
          JSON.parse(text);
        } catch {
          ok = false;
        }
        const code = codeOf(() => parseStrictJson(text));
        if (!ok) expect(code).to.equal('INVALID_INPUT');
        else expect(code === undefined || code === 'DUPLICATE_KEY').to.equal(true, `${text}: ${String(code)}`);
      }),
      { numRuns: 1000 },
    );
  });

  it('refuses comments and trailing commas like JSON.parse', () => {
    expect(codeOf(() => parseStrictJson('{"a":1,}'))).to.equal('INVALID_INPUT');
    expect(codeOf(() => parseStrictJson('{"a":1 /* x */}'))).to.equal('INVALID_INPUT');
    expect(codeOf(() => parseStrictJson(''))).to.equal('INVALID_INPUT');
  });

  it('refuses a text over maxBytes before parsing it, counting UTF-8 bytes', () => {
    expect(thrown(() => parseStrictJson('"ééé"', { maxBytes: 7 })).code).to.equal('INVALID_INPUT');
    expect(parseStrictJson('"ééé"', { maxBytes: 8 })).to.equal('ééé');
    // Not JSON at all, yet the size error comes first: nothing was parsed.
    expect(() => parseStrictJson('x'.repeat(100), { maxBytes: 10 })).to.throw(/larger than 10 bytes/);
  });

  it('maps deep nesting to INVALID_INPUT instead of crashing', () => {
    const deep = '['.repeat(200_000) + ']'.repeat(200_000);
    expect(['INVALID_INPUT', undefined]).to.include(codeOf(() => parseStrictJson(deep)));
  });

  it('scans a 16 MiB document in reasonable time and memory', () => {
    const nodes = Array.from({ length: 60_000 }, (_, i) => ({
      id: `node-${i}`,
      addresses: [`100.64.${i >> 8}.${i & 255}/32`],
      keys: { x: 'k'.repeat(200) },
    }));
    const text = JSON.stringify({ nodes });
    const t0 = Date.now();
    parseStrictJson(text);
    const ms = Date.now() - t0;
    console.log(`      strict parse of ${(text.length / 2 ** 20).toFixed(1)} MiB: ${ms} ms`);
    expect(ms).to.be.below(10_000);
  });

  it('counts members right around colons, quotes and backslashes inside strings', () => {
    const tricky = '{"a:b":"c:d","e\\\\":"\\"x:y\\"","f":["g:",{"h":"\\\\:"}],"i\\"":{"j":":"}}';
    expect(parseStrictJson(tricky)).to.deep.equal(JSON.parse(tricky));
    expect(codeOf(() => parseStrictJson('{"a:":1,"b":"\\\\","a:":2}'))).to.equal('DUPLICATE_KEY');
    expect(codeOf(() => parseStrictJson('{"x":"\\":\\"","y":{"\\"":1,"\\"":2}}'))).to.equal('DUPLICATE_KEY');
  });

  it('agrees with the full scan on random documents with and without a repeated member (fuzzed)', () => {
    const withKeys = fc.dictionary(fc.string({ maxLength: 5 }), fc.jsonValue({ maxDepth: 3 }), { minKeys: 1, maxKeys: 6 });
    fc.assert(
      fc.property(withKeys, fc.boolean(), fc.nat(), (o, dup, pick) => {
        const inner = JSON.stringify(o);
        const keys = Object.keys(o);
        const key = keys[pick % keys.length] ?? '';
        const text = dup ? `{"w":${inner.slice(0, -1)},${JSON.stringify(key)}:":\\""}}` : `{"w":${inner}}`;
        const expected = findDuplicateKey(text) ? 'DUPLICATE_KEY' : undefined;
        expect(codeOf(() => parseStrictJson(text))).to.equal(expected);
        expect(expected).to.equal(dup ? 'DUPLICATE_KEY' : undefined);
      }),
      { numRuns: 500 },
    );
  });
});
