// The report schema validator shared by the kit's own tests (unit and self-tests).
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Ajv, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';

// ajv-formats is CommonJS: under NodeNext its default import is the module object, whose
// `default` is the plugin function (typed as such, so no cast is needed).
const addFormats = addFormatsModule.default;

/** conformance-kit/schemas/report.schema.json (this file runs from `conformance-kit/dist/test/helpers/`). */
export const REPORT_SCHEMA_PATH = fileURLToPath(new URL('../../../schemas/report.schema.json', import.meta.url));

/** A new validator of the report schema: ajv with `allErrors`, non-strict, with ajv-formats. */
export function compileReportSchema(): ValidateFunction {
  const schema = JSON.parse(readFileSync(REPORT_SCHEMA_PATH, 'utf8')) as object;
  return addFormats(new Ajv({ allErrors: true, strict: false })).compile(schema);
}
