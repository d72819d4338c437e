/**
 * `rustynet control audit verify` and `rustynet control audit list`: the control plane's
 * hash-chained, signed audit log (every admin change and enrolment, backups and restores). Both
 * open the database directly, like backup and restore, so they work with no instance running.
 * See docs/operations/audit.md.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Command } from 'commander';
import { RustynetError } from '@rustynet/plugin-api';
import { io, printJson } from '../io.js';
import { addExamples } from '../program.js';
import { controlModule } from './control-admin.js';
import { addDataOptions, dataOptions, type DataOpts } from './control-backup.js';

interface AuditOpts extends DataOpts {
  trustedKey?: string[];
}

function collect(value: string, prev: string[] | undefined): string[] {
  return [...(prev ?? []), value];
}

/**
 * The keys whose signatures count: every `--trusted-key`, plus the current control-plane key
 * (from the key file, else `<data>/control-plane.pub`).
 * @throws RustynetError `KEY_INVALID` when none can be found.
 */
async function trustedKeys(opts: AuditOpts): Promise<string[]> {
  const m = await controlModule();
  const data = dataOptions(opts);
  const keys = [...(opts.trustedKey ?? [])];
  try {
    keys.push((await m.readControlKey(data)).publicKey);
  } catch (err) {
    const pub = await readFile(join(data.dataDir, m.CONTROL_PUB_FILE), 'utf8').catch(() => undefined);
    if (pub !== undefined) keys.push(pub.trim());
    else if (keys.length === 0) throw err;
  }
  return keys;
}

function addAuditOptions(cmd: Command): Command {
  return addDataOptions(cmd).option(
    '--trusted-key <base64>',
    'also trust this control-plane public key (raw Ed25519, base64), e.g. a retired one; repeatable',
    collect,
  );
}

/** Registers `rustynet control audit verify|list`. */
export function registerAudit(control: Command): void {
  const audit = control
    .command('audit')
    .description('verify and list the control-plane audit log (admin changes, enrolments, backups, restores)');
  const verify = addAuditOptions(
    audit
      .command('verify')
      .description(
        'check the hash chain, every record signature and the signed head; exit non-zero (AUDIT_TAMPERED) naming the first bad record',
      ),
  );
  addExamples(verify, [
    'rustynet control audit verify',
    'rustynet control audit verify --database postgres://rustynet@db.example/rustynet --data /srv/control --json',
  ]);
  verify.action(async (opts: AuditOpts) => {
    const m = await controlModule();
    const v = await m.verifyControlAudit({ ...dataOptions(opts), trustedKeys: await trustedKeys(opts) });
    if (!v.ok) {
      const err = m.auditTamperedError(v);
      if (opts.json) printJson({ ok: false, verification: v, error: err.toJSON() });
      throw err;
    }
    if (opts.json) return printJson({ ok: true, verification: v });
    io().out(`rustynet: control-plane audit log OK: ${v.records} record(s), signed head at record ${v.head?.seq ?? 0}\n`);
  });

  const list = addAuditOptions(
    audit
      .command('list')
      .description('print audit records, oldest first (and whether the log verifies)')
      .option('--after <seq>', 'only records after this sequence number', (v) => positiveInt(v, '--after'))
      .option('--limit <n>', 'at most this many records', (v) => positiveInt(v, '--limit')),
  );
  addExamples(list, ['rustynet control audit list --json', 'rustynet control audit list --after 120 --limit 20']);
  list.action(async (opts: AuditOpts & { after?: number; limit?: number }) => {
    const m = await controlModule();
    const r = await m.listControlAudit({
      ...dataOptions(opts),
      trustedKeys: await trustedKeys(opts),
      ...(opts.after !== undefined && { after: opts.after }),
      ...(opts.limit !== undefined && { limit: opts.limit }),
    });
    if (opts.json) return printJson({ ok: r.verification.ok, verification: r.verification, records: r.records });
    for (const rec of r.records) io().out(`${rec.seq}\t${rec.at}\t${rec.type}\t${JSON.stringify(rec.data)}\n`);
    const v = r.verification;
    io().out(
      v.ok
        ? `rustynet: ${v.records} record(s), verified\n`
        : `rustynet: AUDIT_TAMPERED at record ${v.brokenAt ?? '?'}: ${v.reason ?? ''}\n`,
    );
  });
}

function positiveInt(v: string, field: string): number {
  const n = Number(v);
  if (!/^\d{1,15}$/.test(v) || !Number.isSafeInteger(n))
    throw new RustynetError('INVALID_INPUT', `${field} must be a whole number`, { field });
  return n;
}
