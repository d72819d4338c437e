/**
 * `rustynet control rotate-signing-key`: the phases of a control-plane signing-key rotation,
 * through the admin socket. See docs/operations/key-rotation.md.
 */
import type { Command } from 'commander';
import { RustynetError } from '@rustynet/plugin-api';
import type * as ControlModule from '@rustynet/control';
import { table } from '../format.js';
import { io, printJson } from '../io.js';
import { addExamples } from '../program.js';
import { addAdminOptions, call, type AdminOpts } from './control-admin.js';

interface RotateOpts extends AdminOpts {
  announce?: boolean;
  switch?: boolean;
  retire?: boolean;
  status?: boolean;
  force?: boolean;
}

const PATH = '/admin/v1/signing-key';

function statusText(r: ControlModule.RotationStatus): string {
  const s = r.state;
  const lines = [
    `phase: ${r.phase}`,
    `signing with: ${r.signingKey} (${r.signingKeyId})`,
    `next: ${s.next ? `${s.next.publicKey} (announced at version ${s.next.announcedVersion}; held here: ${r.nextHeldHere ? 'yes' : 'NO'})` : '-'}`,
    `previous (still trusted by nodes): ${s.previous ?? '-'}`,
    `retired: ${s.retired ?? '-'}`,
    `netmap version: ${r.version}`,
  ];
  const rows = r.nodes.map((n) => [n.id, n.name, n.seenAnnouncement ?? '-', n.onCurrentKey ?? '-']);
  const out = `${lines.join('\n')}\n\n${rows.length === 0 ? 'no nodes\n' : table(['NODE', 'NAME', 'SEEN ANNOUNCEMENT', 'ON CURRENT KEY'], rows)}`;
  const next =
    r.phase === 'announced'
      ? r.pending.length === 0
        ? 'every node has seen the next key: run --switch\n'
        : `waiting for ${r.pending.length} node(s): ${r.pending.join(', ')}\n`
      : r.phase === 'switched'
        ? 'when every node is on the current key: run --retire\n'
        : '';
  return `${out}${out.endsWith('\n') ? '' : '\n'}${next}`;
}

/** Registers `rustynet control rotate-signing-key`. */
export function registerRotateSigningKey(control: Command): void {
  const cmd = addAdminOptions(
    control
      .command('rotate-signing-key')
      .description('rotate the control-plane signing key: --announce, watch --status, --switch, later --retire')
      .option('--announce', 'generate the next key in <data>/signing-keys/ (0600) and announce it in every netmap')
      .option('--status', 'show the rotation and which nodes have seen the announcement (the default)')
      .option('--switch', 'sign with the announced key; refused while a node has not seen it')
      .option('--force', 'with --switch: switch even though some nodes have not seen the announcement')
      .option('--retire', 'announce the previous key as retired: nodes stop trusting it'),
  );
  addExamples(cmd, [
    'rustynet control rotate-signing-key --announce',
    'rustynet control rotate-signing-key --status',
    'rustynet control rotate-signing-key --switch',
    'rustynet control rotate-signing-key --retire',
    'rustynet control rotate-signing-key --status --json',
  ]);
  cmd.action(async (opts: RotateOpts) => {
    const phases = (['announce', 'switch', 'retire', 'status'] as const).filter((p) => opts[p] === true);
    if (phases.length > 1) {
      throw new RustynetError('INVALID_INPUT', `give one of --announce, --status, --switch, --retire (got --${phases.join(', --')})`, {
        field: `--${phases[1] ?? ''}`,
      });
    }
    if (opts.force && !opts.switch) throw new RustynetError('INVALID_INPUT', '--force goes with --switch', { field: '--force' });
    const phase = phases[0] ?? 'status';
    if (phase === 'status') {
      const r = (await call(opts, 'GET', PATH)) as ControlModule.RotationStatus;
      return opts.json ? printJson(r) : io().out(statusText(r));
    }
    if (phase === 'announce') {
      const r = (await call(opts, 'POST', `${PATH}/announce`)) as { version: number; next: string; nextKeyId: string; keyFile: string };
      if (opts.json) return printJson(r);
      return io().out(
        `rustynet: announced the next signing key ${r.next} (${r.nextKeyId}); netmap version ${r.version}\n` +
          `private key: ${r.keyFile} (0600). Copy it into signing-keys/ of every other instance on this database,\n` +
          'then watch `rustynet control rotate-signing-key --status` until no node is pending, then --switch.\n',
      );
    }
    if (phase === 'switch') {
      const r = (await call(opts, 'POST', `${PATH}/switch`, { force: opts.force === true })) as {
        version: number;
        current: string;
        forcedPast: string[];
      };
      if (opts.json) return printJson(r);
      return io().out(
        `rustynet: signing with ${r.current} from netmap version ${r.version}\n` +
          (r.forcedPast.length > 0
            ? `forced past ${r.forcedPast.length} node(s) that had not seen it: ${r.forcedPast.join(', ')} (they need the recovery in docs/operations/key-rotation.md)\n`
            : '') +
          'when --status shows every node on the current key: --retire\n',
      );
    }
    const r = (await call(opts, 'POST', `${PATH}/retire`)) as { version: number; retired: string };
    if (opts.json) return printJson(r);
    io().out(`rustynet: retired ${r.retired} from netmap version ${r.version}; nodes drop it as they fetch that map\n`);
  });
}
