/**
 * `rustynet netmap delta`: the file flow's signed delta between two signed netmaps, for a daemon
 * whose config names a `netmap.deltaFile` (see docs/netmap-deltas.md).
 */
import type { Command } from 'commander';
import { isRustynetError, RustynetError, type SignedNetmap } from '@rustynet/plugin-api';
import { daemonModule } from '../daemon-api.js';
import { io } from '../io.js';
import { addExamples } from '../program.js';
import { parseJson, readInput, writeFileAtomic } from './netmap.js';

/** Registers `netmap delta` under `netmap`. */
export function registerDelta(netmap: Command): void {
  const delta = netmap
    .command('delta')
    .description(
      'sign the delta from one signed netmap to the next (both verified with the key); a daemon with netmap.deltaFile applies it instead of re-reading the whole map',
    )
    .requiredOption('--key <file>', 'control-plane private key (PEM, mode 0600)')
    .requiredOption('--from <file>', 'the signed netmap the daemons hold now')
    .requiredOption('--to <file>', 'the next signed netmap (write it to netmap.file as well)')
    .option('--out <file>', 'where to write the signed delta (atomically); default stdout');
  addExamples(delta, [
    'rustynet netmap sign --key cp.key --in netmap.json --bump --out next.json',
    'rustynet netmap delta --key cp.key --from /var/lib/rustynet/netmap.json --to next.json --out /var/lib/rustynet/netmap.delta.json',
    'mv next.json /var/lib/rustynet/netmap.json',
  ]);
  delta.action(async (opts: { key: string; from: string; to: string; out?: string }) => {
    const d = await daemonModule();
    let pem: string;
    try {
      pem = await d.readPrivateKeyFile(opts.key);
    } catch (err) {
      if (isRustynetError(err)) throw new RustynetError(err.code, err.message, { field: '--key', cause: err });
      throw err;
    }
    const pub = d.publicKeyFromPrivatePem(pem);
    const read = async (file: string, field: string) => {
      const signed = parseJson(await readInput(file, field), file, field) as SignedNetmap;
      try {
        return d.verifySignedNetmap(signed, pub, {
          now: Date.parse((signed as Partial<SignedNetmap>).netmap?.issuedAt ?? '') || Date.now(),
        });
      } catch (err) {
        if (isRustynetError(err)) throw new RustynetError(err.code, `${field} ${file}: ${err.message}`, { field, cause: err });
        throw err;
      }
    };
    const from = await read(opts.from, '--from');
    const to = await read(opts.to, '--to');
    const computed = d.computeNetmapDelta(from, to);
    if (!computed)
      throw new RustynetError(
        'INVALID_INPUT',
        `no delta from version ${from.version} to ${to.version}: the version must rise and kept nodes keep their order (send the full netmap)`,
        { field: '--to' },
      );
    const text = `${JSON.stringify(d.signNetmapDelta(computed, pem))}\n`;
    if (opts.out) {
      await writeFileAtomic(opts.out, text);
      io().err(`rustynet: signed delta ${from.version} -> ${to.version} (${computed.ops.length} operations) written to ${opts.out}\n`);
    } else io().out(text);
  });
}
