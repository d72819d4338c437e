/**
 * `@rustynet/create-plugin`: `npm create @rustynet/plugin <dir>` scaffolds a plugin package from
 * the template shipped inside `@rustynet/conformance-kit`, through the kit's own `initPlugin`
 * (the same code as `rustynet-conformance init`), so there is one template and one scaffolder.
 */
import { basename } from 'node:path';
import { parseArgs } from 'node:util';
import { initPlugin } from '@rustynet/conformance-kit/init';

const USAGE = `usage: npm create @rustynet/plugin@latest <dir> [-- --name <package>] [--kind backend] [--json]
       create-plugin <dir> [--name <package>] [--kind backend] [--json]

Scaffolds a Rustynet plugin package in <dir> (absent or empty) from the template shipped in
@rustynet/conformance-kit: a TypeScript backend with its manifest, tests and devDependencies
(typescript, mocha, the kit and the CLI), ready for:
  cd <dir> && npm install && npm run build && npm test && sudo npm run conformance

options:
  --name <package>   npm package name (default: the folder name, e.g. backend-foo or @acme/backend-foo)
  --kind <kind>      plugin kind; only "backend" has a template (default backend)
  --json             print the result (or the error) as JSON
  -h, --help         this text

examples:
  npm create @rustynet/plugin@latest backend-foo
  npm create @rustynet/plugin@latest backend-foo -- --name @acme/backend-foo

Exit status: 0 created, 2 usage error (bad name, folder not empty, unknown kind).
Errors print as "rustynet: <CODE>: <message>" on stderr (with --json: one JSON object).
`;

/** One error line in the project's format; @returns the exit status 2. */
function fail(code: string, message: string, json: boolean, field?: string): number {
  process.stderr.write(
    json ? `${JSON.stringify({ error: { code, message, ...(field && { field }) } })}\n` : `rustynet: ${code}: ${message}\n`,
  );
  return 2;
}

/**
 * The `create-plugin` program (what `npm create @rustynet/plugin` runs): parses `argv` (the
 * arguments after the program name), scaffolds through the kit's `initPlugin`, prints the result
 * on stdout and any error as `rustynet: <CODE>: <message>` on stderr (one JSON object with
 * `--json`).
 * @param argv - e.g. `['backend-foo', '--name', '@acme/backend-foo']`
 * @returns the exit status: 0 created or `--help`, 2 a usage error (bad name, folder not empty,
 *   unknown kind or option), 1 an unexpected error. Never throws.
 */
export async function createPluginMain(argv: string[]): Promise<number> {
  const json = argv.includes('--json');
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        name: { type: 'string' },
        kind: { type: 'string', default: 'backend' },
        json: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (err) {
    return fail('INVALID_INPUT', (err as Error).message, json);
  }
  const { values, positionals } = parsed;
  if (values.help === true) {
    process.stdout.write(USAGE);
    return 0;
  }
  const dir = positionals[0];
  if (dir === undefined || positionals.length > 1) {
    process.stderr.write(USAGE);
    return fail('INVALID_INPUT', 'dir: give one argument, the folder of the new plugin', json, 'dir');
  }
  const name = values.name ?? basename(dir);
  try {
    const res = await initPlugin({ name, kind: values.kind as 'backend', dir });
    if (json) process.stdout.write(`${JSON.stringify(res, null, 2)}\n`);
    else {
      process.stdout.write(`created ${name} (${values.kind}, protocol "${res.protocol}") in ${res.dir}: ${res.files.length} files\n`);
      process.stdout.write(`next:\n  cd ${dir} && npm install && npm run build && npm test\n  sudo npm run conformance\n`);
    }
    return 0;
  } catch (err) {
    const e = err as { code?: unknown; message?: unknown; field?: unknown };
    const code = typeof e.code === 'string' ? e.code : 'INTERNAL';
    const field = typeof e.field === 'string' ? e.field : undefined;
    const message = String(e.message ?? err).replace(/^[A-Z_]+: /, '');
    return code === 'INTERNAL' ? (fail(code, message, json, field), 1) : fail(code, message, json, field);
  }
}
