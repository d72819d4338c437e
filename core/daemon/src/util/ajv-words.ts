/**
 * JSON Schema errors (ajv) in words, for messages a person reads: one sentence per problem,
 * naming the field in dotted form (`capabilities.ipv6`, `backend.peerKeySchema`).
 */
import type { ErrorObject } from 'ajv';
import { errorField } from './ajv.js';

function article(type: string): string {
  return /^[aeiou]/.test(type) ? `an ${type}` : `a ${type}`;
}

function typeWords(t: unknown): string {
  const types = (Array.isArray(t) ? t : String(t).split(',')).map(String);
  return types.map(article).join(' or ');
}

/** One ajv error as `<field>: <problem in words>`. */
export function ajvErrorInWords(e: ErrorObject, prefix = ''): string {
  const p = e.params as Record<string, unknown>;
  const n = (k: string): string => String(p[k]);
  let what: string;
  switch (e.keyword) {
    case 'required':
      what = 'is required but missing';
      break;
    case 'additionalProperties':
      what = 'is not a known field (check its spelling; unknown fields are refused)';
      break;
    case 'type':
      what = `must be ${typeWords(p['type'])}`;
      break;
    case 'enum':
      what = `must be one of ${((p['allowedValues'] as unknown[] | undefined) ?? []).map((v) => JSON.stringify(v)).join(', ')}`;
      break;
    case 'const':
      what = `must be ${JSON.stringify(p['allowedValue'])}`;
      break;
    case 'pattern':
      what = `does not have the required form (pattern ${n('pattern')})`;
      break;
    case 'format':
      what = `must be a valid ${n('format')}`;
      break;
    case 'minimum':
    case 'exclusiveMinimum':
      what = `must be ${e.keyword === 'minimum' ? 'at least' : 'greater than'} ${n('limit')}`;
      break;
    case 'maximum':
    case 'exclusiveMaximum':
      what = `must be ${e.keyword === 'maximum' ? 'at most' : 'less than'} ${n('limit')}`;
      break;
    case 'minLength':
      what = `must be at least ${n('limit')} characters long`;
      break;
    case 'maxLength':
      what = `must be at most ${n('limit')} characters long`;
      break;
    case 'minItems':
      what = `must have at least ${n('limit')} items`;
      break;
    case 'maxItems':
      what = `must have at most ${n('limit')} items`;
      break;
    case 'uniqueItems':
      what = `must not repeat items (items ${n('j')} and ${n('i')} are equal)`;
      break;
    case 'anyOf':
    case 'oneOf':
      what = 'does not match any of the allowed forms';
      break;
    default:
      what = e.message ?? 'is invalid';
  }
  return `${errorField(e, prefix)}: ${what}`;
}

/**
 * Every ajv error in words, without repeats: `"2 problems: a: ...; b: ..."`, or just the one
 * problem. `if` summaries (the `then` branch's own errors follow them) are dropped, and so are
 * `anyOf`/`oneOf` summaries when a more specific error names the same field.
 */
export function ajvErrorsInWords(errors: readonly ErrorObject[] | null | undefined, prefix = ''): string {
  if (!errors || errors.length === 0) return 'invalid';
  const specific = new Set(errors.filter((e) => e.keyword !== 'anyOf' && e.keyword !== 'oneOf').map((e) => e.instancePath));
  const lines = [
    ...new Set(
      errors
        .filter((e) => e.keyword !== 'if' && !((e.keyword === 'anyOf' || e.keyword === 'oneOf') && specific.has(e.instancePath)))
        .map((e) => ajvErrorInWords(e, prefix)),
    ),
  ];
  return lines.length === 1 ? (lines[0] ?? 'invalid') : `${lines.length} problems: ${lines.join('; ')}`;
}
