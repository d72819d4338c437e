/**
 * `rustynet audit verify` (the audit log against its hash chain and signed head, offline) and
 * `rustynet audit status` (the running daemon's start-up check and a check now).
 */
import type { Command } from 'commander';
import { join } from 'node:path';
import { RustynetError, invalidInput } from '@rustynet/plugin-api';
import type { AuditVerification } from '@rustynet/daemon';
import { daemonModule } from '../daemon-api.js';
import { io, printJson } from '../io.js';
import { addExamples, addJsonOption, addSocketOption, apiClient } from '../program.js';

interface VerifyOpts {
  config?: string;
  stateDir?: string;
  log?: string;
  head?: string;
  publicKey?: string;
  allowUnsigned?: boolean;
  json?: boolean;
}

/** One line per verification. */
export function renderVerification(v: AuditVerification, log: string): string {
  if (!v.ok)
    return `audit log ${log}: TAMPERED or damaged at record ${v.brokenAt ?? '?'}: ${v.reason ?? ''} (${v.records} records before it verify)\n`;
  const signed = v.signed ? `signed head at record ${v.head?.seq ?? 0} by ${v.head?.publicKey ?? '?'}` : 'NOT signed (no head)';
  const tail = v.unsignedTail > 0 && v.signed ? `, ${v.unsignedTail} record(s) after the head not yet signed` : '';
  const seg = v.segment
    ? `\nthis log is a new segment begun after a failed check: ${String(v.segment['reason'])} (old log: ${String(v.segment['previousLog'])})`
    : '';
  return `audit log ${log}: OK, ${v.records} records, ${signed}${tail}${seg}\n`;
}

/** Registers `audit verify` and `audit status`. */
export function register(program: Command): void {
  const audit = program.command('audit').description("check the daemon's tamper-evident audit log");

  const verify = audit
    .command('verify')
    .description('verify the audit log against its hash chain and the head signed with the node identity key')
    .option('--config <file>', 'daemon config: its stateDir holds the log, its identityKeyFile pins the signer')
    .option('--state-dir <dir>', 'state directory holding audit.log and audit.head')
    .option('--log <file>', 'the audit log (default <stateDir>/audit.log)')
    .option('--head <file>', 'the signed head (default: audit.head beside the log)')
    .option('--public-key <base64>', "the node's identity public key (raw 32 bytes, base64: the netmap identityKey)")
    .option('--allow-unsigned', 'accept a log without a head (a node without identityKeyFile)');
  addJsonOption(verify);
  addExamples(verify, [
    'rustynet audit verify --config /etc/rustynet/rustynetd.json',
    'rustynet audit verify --state-dir /var/lib/rustynet --public-key <identityKey> --json',
  ]);
  verify.addHelpText('after', '\nExits 1 with AUDIT_TAMPERED when the log was truncated, edited, or records were deleted or reordered.');
  verify.action(async (opts: VerifyOpts) => {
    const d = await daemonModule();
    let stateDir = opts.stateDir;
    let publicKey = opts.publicKey;
    if (opts.config) {
      const cfg = await d.loadDaemonConfig(opts.config);
      stateDir ??= cfg.stateDir;
      if (publicKey === undefined && cfg.identityKeyFile !== undefined) {
        publicKey = d.publicKeyFromPrivatePem(await d.readPrivateKeyFile(cfg.identityKeyFile));
      }
    }
    const log = opts.log ?? (stateDir !== undefined ? join(stateDir, 'audit.log') : undefined);
    if (log === undefined) throw invalidInput('config', 'say where the log is: --config, --state-dir or --log');
    const head = opts.head ?? d.auditHeadPathOf(log);
    const v = await d.verifyAuditLog(log, {
      headPath: head,
      ...(publicKey !== undefined && { publicKey }),
      requireHead: !opts.allowUnsigned,
    });
    if (opts.json) printJson({ log, head, pinnedKey: publicKey ?? null, ...v });
    else io().out(renderVerification(v, log));
    if (!v.ok) {
      throw new RustynetError('AUDIT_TAMPERED', `audit log ${log} failed verification at record ${v.brokenAt ?? '?'}: ${v.reason ?? ''}`, {
        details: { brokenAt: v.brokenAt, reason: v.reason },
      });
    }
    if (publicKey === undefined && v.signed && !opts.json)
      io().err('warning: no identity key given (--config or --public-key): the signer was not pinned\n');
  });

  const status = audit.command('status').description("the running daemon's audit check: at start-up and now");
  addSocketOption(addJsonOption(status));
  addExamples(status, ['rustynet audit status', 'rustynet audit status --json | jq .startup.verification.ok']);
  status.action(async (opts: { socket?: string; json?: boolean }) => {
    const r = await apiClient(opts).audit();
    if (opts.json) return printJson(r);
    const s = r.startup;
    io().out(
      `at start-up (${s.at}): ${s.verification.ok ? 'OK' : `FAILED at record ${s.verification.brokenAt ?? '?'}: ${s.verification.reason ?? ''}; moved to ${s.movedTo?.log ?? '?'}, new segment begun`}\n`,
    );
    io().out(`now: ${renderVerification(r.now, 'audit.log')}`);
    if (!r.now.ok) throw new RustynetError('AUDIT_TAMPERED', `the audit log fails verification now: ${r.now.reason ?? ''}`);
  });
}
