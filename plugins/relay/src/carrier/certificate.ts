/**
 * The TLS certificate of the relay's TLS carrier: self-signed with the relay's own Ed25519
 * identity key, so its public key *is* the netmap's `relays[].identityKey` and nodes pin it
 * (no CA, no custom cryptography). Made by the `openssl` binary at start (node:crypto cannot
 * issue X.509 certificates); the key file's path is on its command line, never the key.
 */
import { execFile } from 'node:child_process';
import { RustynetError } from '@rustynet/plugin-api';

/**
 * A self-signed X.509 certificate (PEM) for the Ed25519 private key in `keyFile`, subject
 * `CN=<relayId>`, valid for 10 years (nodes pin the key, not the validity).
 * @throws RustynetError RELAY_FAILED when openssl is missing or fails.
 */
export function selfSignedCertificate(keyFile: string, relayId: string): Promise<string> {
  const args = ['req', '-x509', '-new', '-key', keyFile, '-subj', `/CN=${relayId}`, '-days', '3650'];
  return new Promise((resolve, reject) => {
    execFile(
      'openssl',
      args,
      { timeout: 10_000, encoding: 'utf8', env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin' } },
      (err, stdout, stderr) => {
        if (err || !stdout.includes('BEGIN CERTIFICATE')) {
          reject(
            new RustynetError(
              'RELAY_FAILED',
              `cannot make the TLS carrier certificate with openssl: ${err?.message ?? ''} ${stderr}`.trim(),
              {
                ...(err && { cause: err }),
              },
            ),
          );
          return;
        }
        resolve(stdout);
      },
    );
  });
}
