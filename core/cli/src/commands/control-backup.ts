/**
 * `rustynet control backup` and `rustynet control restore`, and the `--database` option they
 * share with `serve`. See docs/operations/backup-restore.md.
 */
import type { Command } from 'commander';
import { RustynetError } from '@rustynet/plugin-api';
import { io, printJson } from '../io.js';
import { addExamples, addJsonOption } from '../program.js';
import { DEFAULT_CONTROL_DATA, controlModule } from './control-admin.js';

/** The help text of `--database`. */
export const DATABASE_HELP =
  'postgres://user@host:5432/db for PostgreSQL (several instances may share it; the password goes in ~/.pgpass or PGPASSFILE, ' +
  'never in the URL), default SQLite <data>/control.db (env RUSTYNET_CONTROL_DATABASE)';

/**
 * The database of `--database` / `RUSTYNET_CONTROL_DATABASE`, or undefined (SQLite).
 * @throws RustynetError `INVALID_INPUT` (field `--database`) for a URL that carries a password
 *   (it would show in the process list) or is not `postgres://`.
 */
export function databaseOption(value: string | undefined): string | undefined {
  const spec = value ?? io().env['RUSTYNET_CONTROL_DATABASE'];
  if (spec === undefined || spec === '') return undefined;
  let url: URL;
  try {
    url = new URL(spec);
  } catch (cause) {
    throw new RustynetError('INVALID_INPUT', '--database must be a postgres:// URL', { field: '--database', cause });
  }
  if (url.protocol !== 'postgres:' && url.protocol !== 'postgresql:') {
    throw new RustynetError('INVALID_INPUT', `--database must be a postgres:// URL, got ${url.protocol}`, { field: '--database' });
  }
  if (url.password !== '') {
    throw new RustynetError(
      'INVALID_INPUT',
      '--database must not carry a password (it would show in the process list): put it in ~/.pgpass (0600) or the file PGPASSFILE names',
      { field: '--database' },
    );
  }
  return spec;
}

export interface DataOpts {
  data?: string;
  database?: string;
  keyFile?: string;
  json?: boolean;
}

export function addDataOptions(cmd: Command): Command {
  return addJsonOption(cmd)
    .option('--data <dir>', `control-plane data directory (env RUSTYNET_CONTROL_DATA; default ${DEFAULT_CONTROL_DATA})`)
    .option('--database <url>', DATABASE_HELP)
    .option('--key-file <file>', 'control-plane signing key (PEM, 0600); default <data>/control-plane.key');
}

export function dataOptions(opts: DataOpts): { dataDir: string; database?: string; keyFile?: string } {
  const database = databaseOption(opts.database);
  return {
    dataDir: opts.data ?? io().env['RUSTYNET_CONTROL_DATA'] ?? DEFAULT_CONTROL_DATA,
    ...(database !== undefined && { database }),
    ...(opts.keyFile !== undefined && { keyFile: opts.keyFile }),
  };
}

/** Registers `backup` and `restore` under `rustynet control`. */
export function registerBackup(control: Command): void {
  const backup = addDataOptions(
    control
      .command('backup')
      .description('write a consistent online snapshot of the control plane, checksummed (SHA-256) and signed with its key')
      .requiredOption('--out <file>', 'backup file to write (mode 0600, replaced atomically)'),
  );
  addExamples(backup, [
    'rustynet control backup --out /var/backups/rustynet-control.json',
    'rustynet control backup --database postgres://rustynet@db.example/rustynet --data /srv/control --out backup.json',
  ]);
  backup.action(async (opts: DataOpts & { out: string }) => {
    const m = await controlModule();
    const r = await m.backupControlPlane({ ...dataOptions(opts), out: opts.out });
    if (opts.json) return printJson({ ok: true, ...r });
    io().out(
      `rustynet: backup ${r.file}: netmap version ${r.version}, ${r.nodes} node(s), ${r.authKeys} pre-auth key(s), ${r.bytes} bytes, signed by ${r.keyId}\n`,
    );
  });

  const restore = addDataOptions(
    control
      .command('restore')
      .description(
        'verify a backup (checksum, signature) and replace the whole control-plane state with it in one transaction; ' +
          'new netmap versions stay above every version issued before',
      )
      .argument('<file>', 'backup file written by `rustynet control backup`'),
  );
  addExamples(restore, [
    'rustynet control restore /var/backups/rustynet-control.json',
    'rustynet control restore backup.json --database postgres://rustynet@db.example/rustynet --data /srv/control',
  ]);
  restore.action(async (file: string, opts: DataOpts) => {
    const m = await controlModule();
    const r = await m.restoreControlPlane({ ...dataOptions(opts), file });
    if (opts.json) return printJson({ ok: true, ...r });
    io().out(
      `rustynet: restored ${r.nodes} node(s) and ${r.authKeys} pre-auth key(s) from ${file} (backup version ${r.backupVersion}); ` +
        `netmap version now ${r.version} (was ${r.previousVersion})\n`,
    );
  });
}
