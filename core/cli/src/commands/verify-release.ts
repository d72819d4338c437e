/**
 * `rustynet verify-release <dir> --key <pubkey>`: checks a release directory written by
 * `npm run release:artifacts` — the Ed25519 signature over SHA256SUMS, every SHA-256 sum, one
 * CycloneDX SBOM per package tarball, and the in-toto / SLSA provenance statement.
 */
import type { Command } from 'commander';
import { resolve } from 'node:path';
import { RustynetError } from '@rustynet/plugin-api';
import { table } from '../format.js';
import { io, printJson } from '../io.js';
import { addExamples, addJsonOption } from '../program.js';
import { readReleasePublicKey, verifyRelease } from '../release/verify.js';

/** Registers `verify-release`. */
export function register(program: Command): void {
  const cmd = program
    .command('verify-release')
    .description('verify a release directory: signature over SHA256SUMS, checksums, SBOMs, provenance')
    .argument('<dir>', 'release directory written by `npm run release:artifacts`')
    .requiredOption('--key <file>', 'release signing public key (Ed25519, PEM SPKI)');
  addJsonOption(cmd);
  addExamples(cmd, [
    'rustynet verify-release ./release --key release-signing.pub',
    'rustynet verify-release ./release --key release-signing.pub --json',
  ]);
  cmd.action(async (dir: string, opts: { key: string; json?: boolean }) => {
    const key = await readReleasePublicKey(opts.key);
    const report = await verifyRelease(resolve(dir), key);
    const failed = report.checks.filter((c) => !c.ok);
    if (opts.json) printJson(report);
    else {
      const rows = report.checks.filter((c) => !c.ok || c.check !== 'checksum');
      io().out(
        table(
          ['check', 'file', 'result'],
          rows.map((c) => [c.check, c.file, c.ok ? 'ok' : `FAILED: ${c.problem ?? ''}`]),
        ),
      );
      const sums = report.checks.filter((c) => c.check === 'checksum');
      io().out(`${sums.filter((c) => c.ok).length}/${sums.length} checksums match; ${report.packages.length} packages\n`);
    }
    if (failed.length > 0) {
      const first = failed[0];
      throw new RustynetError(
        'RELEASE_INVALID',
        `${failed.length} check(s) failed, first: ${first?.check} ${first?.file}: ${first?.problem ?? ''}`,
        { details: { failed: failed.map((c) => ({ check: c.check, file: c.file, problem: c.problem })) } },
      );
    }
  });
}
