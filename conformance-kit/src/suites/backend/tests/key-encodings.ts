/**
 * Private key material in every encoding a leak could take: the key file's text, the raw key
 * bytes (the base64 payload of the file, or of a PEM block), and those bytes as base64,
 * base64url, lower- and upper-case hex.
 */

/** The raw bytes behind a private key file's text (base64 body or PEM blocks), if any. */
function rawKeys(text: string): Buffer[] {
  const pem = [...text.matchAll(/-----BEGIN [A-Z ]*PRIVATE KEY-----([\s\S]*?)-----END/g)].map((m) => (m[1] ?? '').replace(/\s+/g, ''));
  const bodies = pem.length > 0 ? pem : /^[A-Za-z0-9+/=_-]{16,}$/.test(text.trim()) ? [text.trim()] : [];
  return bodies.map((b) => Buffer.from(b, 'base64')).filter((b) => b.length >= 16);
}

/** Every encoding of the private keys behind `texts` (the contents of private key files), as byte strings to search. */
export function keyEncodings(texts: readonly string[]): Buffer[] {
  const out = new Map<string, Buffer>();
  const add = (b: Buffer): void => void out.set(b.toString('hex'), b);
  for (const text of texts) {
    add(Buffer.from(text));
    for (const raw of rawKeys(text)) {
      add(raw);
      add(Buffer.from(raw.toString('base64')));
      add(Buffer.from(raw.toString('base64url')));
      add(Buffer.from(raw.toString('hex')));
      add(Buffer.from(raw.toString('hex').toUpperCase()));
    }
  }
  return [...out.values()];
}

/** Whether `hay` contains one of `needles`. */
export function containsAny(hay: Buffer, needles: readonly Buffer[]): boolean {
  return needles.some((n) => hay.includes(n));
}
