import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';
import { interopDefault } from './interop.js';

// ajv-formats is CommonJS with `exports.default`; under NodeNext the default import is the module.
const addFormats = interopDefault(addFormatsModule) as (ajv: Ajv) => Ajv;

/**
 * Creates an ajv instance (JSON Schema draft-07) with the `ajv-formats` formats (`ipv4`, `ipv6`,
 * `date-time`, `uri`, ...), collecting all errors so messages can name every bad field.
 */
export function createAjv(opts: { useDefaults?: boolean } = {}): Ajv {
  const ajv = new Ajv({ allErrors: true, strict: false, useDefaults: opts.useDefaults ?? false });
  addFormats(ajv);
  return ajv;
}

/** The one ajv instance behind {@link sharedValidator} (created on first use). */
let shared: Ajv | undefined;
const compiled = new Map<object, ValidateFunction>();

/**
 * The validator of `schema`, compiled on first use in one shared ajv instance (options of
 * {@link createAjv}) and kept: every schema is compiled once per process, and only when a code
 * path needs it (e.g. the delta schemas on the first delta), which keeps the daemon's memory down.
 */
export function sharedValidator<T = unknown>(schema: object): ValidateFunction<T> {
  let v = compiled.get(schema);
  if (!v) {
    shared ??= createAjv();
    v = shared.compile(schema);
    compiled.set(schema, v);
  }
  return v as ValidateFunction<T>;
}

/**
 * Converts an ajv `instancePath` (`/nodes/3/keys/x`) into the dotted field form used in
 * {@link RustynetError.field} (`nodes[3].keys.x`), prefixed with `prefix` when given.
 */
export function instancePathToField(instancePath: string, prefix = ''): string {
  let out = prefix;
  for (const raw of instancePath.split('/').slice(1)) {
    const part = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (/^\d+$/.test(part)) out += `[${part}]`;
    else out += out === '' ? part : `.${part}`;
  }
  return out;
}

/** The field an ajv error is about: for `required` the missing property, else its instance path. */
export function errorField(err: ErrorObject, prefix = ''): string {
  const missing = err.keyword === 'required' ? (err.params as { missingProperty?: string }).missingProperty : undefined;
  const additional =
    err.keyword === 'additionalProperties' ? (err.params as { additionalProperty?: string }).additionalProperty : undefined;
  const extra = missing ?? additional;
  const path = extra === undefined ? err.instancePath : `${err.instancePath}/${extra}`;
  const field = instancePathToField(path, prefix);
  return field === '' ? '(root)' : field;
}

/** Formats ajv errors as `"<instancePath> <message>"` joined by `; ` (root shown as `/`). */
export function formatAjvErrors(errors: readonly ErrorObject[] | null | undefined): string {
  if (!errors || errors.length === 0) return 'invalid';
  return errors
    .map((e) => {
      const extra =
        e.keyword === 'additionalProperties'
          ? ` (${String((e.params as { additionalProperty?: string }).additionalProperty)})`
          : e.keyword === 'enum'
            ? ` (${JSON.stringify((e.params as { allowedValues?: unknown }).allowedValues)})`
            : '';
      return `${e.instancePath || '/'} ${e.message ?? 'is invalid'}${extra}`;
    })
    .join('; ');
}

/** A compiled validator plus its first error's field, for callers that throw named errors. */
export type Validator = ValidateFunction;
