/**
 * Node key pair of the OpenVPN backend: an EC P-256 private key and a self-signed X.509
 * certificate. Peers pin the certificate by its SHA-256 fingerprint (`--peer-fingerprint`,
 * OpenVPN 2.6), so no CA is involved. Generated with WebCrypto (node:crypto) and @peculiar/x509.
 */
import { createPrivateKey, randomBytes, webcrypto, X509Certificate } from 'node:crypto';
import { chmod, mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as x509 from '@peculiar/x509';
import { RustynetError, type BackendKeyPair } from '@rustynet/plugin-api';
import { isFingerprint } from './rules.js';

/** File name of the private key (PKCS#8 PEM, mode 0600) inside the key directory. */
export const KEY_FILE = 'openvpn.key';
/** File name of the self-signed certificate (PEM, mode 0600) inside the key directory. */
export const CERT_FILE = 'openvpn.crt';
/** Certificate lifetime: OpenSSL still checks validity dates of a pinned certificate. */
export const CERT_VALIDITY_DAYS = 3650;

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

/** Paths and fingerprint of a loaded key pair. */
export interface LoadedKeyPair {
  keyFile: string;
  certFile: string;
  fingerprint: string;
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * Writes a new key pair into `directory` (created 0700 if missing).
 * @returns the certificate fingerprint (`AB:CD:...`) and the two file paths.
 * @throws RustynetError `KEY_INVALID` if either file exists already, `BACKEND_FAILED` otherwise.
 */
export async function generateKeyPair(directory: string): Promise<BackendKeyPair> {
  const keyFile = join(directory, KEY_FILE);
  const certFile = join(directory, CERT_FILE);
  if ((await exists(keyFile)) || (await exists(certFile))) {
    throw new RustynetError('KEY_INVALID', `key files exist already in ${directory}; refusing to overwrite`, {
      field: 'directory',
      details: { directory },
    });
  }
  try {
    await mkdir(directory, { recursive: true, mode: 0o700 });
    const alg = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
    const keys = await webcrypto.subtle.generateKey(alg, true, ['sign', 'verify']);
    const now = Date.now();
    const cert = await x509.X509CertificateGenerator.createSelfSigned({
      serialNumber: randomBytes(16)
        .toString('hex')
        .replace(/^[89a-f]/, '1'),
      name: 'CN=rustynet-openvpn',
      notBefore: new Date(now - 60_000),
      notAfter: new Date(now + CERT_VALIDITY_DAYS * 86_400_000),
      signingAlgorithm: alg,
      keys,
      extensions: [new x509.BasicConstraintsExtension(false, undefined, true)],
    });
    const pkcs8 = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey));
    const keyPem = `-----BEGIN PRIVATE KEY-----\n${pkcs8
      .toString('base64')
      .replace(/(.{64})/g, '$1\n')
      .replace(/\n?$/, '\n')}-----END PRIVATE KEY-----\n`;
    // 'wx' fails if the file appeared meanwhile; mode applies at creation, so the key is never readable by others.
    await writeFile(keyFile, keyPem, { mode: 0o600, flag: 'wx' });
    await chmod(keyFile, 0o600);
    // 0600 too: hosts may treat every file generateKeyPair lists as private.
    await writeFile(certFile, cert.toString('pem') + '\n', { mode: 0o600, flag: 'wx' });
    const fingerprint = new X509Certificate(cert.toString('pem')).fingerprint256;
    return { publicKey: fingerprint, files: [keyFile, certFile] };
  } catch (err) {
    throw new RustynetError('BACKEND_FAILED', `could not generate the OpenVPN key pair: ${(err as Error).message}`, {
      cause: err,
    });
  }
}

/**
 * Loads and checks the key pair in `directory`: the key file must be mode 0600 (no group/other
 * bits), both files must parse, and the key must match the certificate.
 * @throws RustynetError `KEY_INVALID` otherwise.
 */
export async function loadKeyPair(directory: string): Promise<LoadedKeyPair> {
  const keyFile = join(directory, KEY_FILE);
  const certFile = join(directory, CERT_FILE);
  const fail = (message: string, cause?: unknown): never => {
    throw new RustynetError('KEY_INVALID', message, { field: 'keyDirectory', details: { directory }, cause });
  };
  let mode: number;
  try {
    mode = (await stat(keyFile)).mode & 0o777;
  } catch (err) {
    return fail(`missing private key ${keyFile}`, err);
  }
  if ((mode & 0o077) !== 0) fail(`private key ${keyFile} has mode ${mode.toString(8)}; it must be 0600`);
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(await readFile(certFile));
  } catch (err) {
    return fail(`missing or malformed certificate ${certFile}`, err);
  }
  try {
    const key = createPrivateKey(await readFile(keyFile));
    if (!cert.checkPrivateKey(key)) fail(`private key ${keyFile} does not match certificate ${certFile}`);
  } catch (err) {
    if (err instanceof RustynetError) throw err;
    fail(`malformed private key ${keyFile}`, err);
  }
  const fingerprint = cert.fingerprint256;
  if (!isFingerprint(fingerprint)) fail(`unexpected fingerprint format from ${certFile}`);
  return { keyFile, certFile, fingerprint };
}
