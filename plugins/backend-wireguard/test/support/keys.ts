import { randomBytes } from 'node:crypto';
import { derivePublicKey } from '../../src/keys.js';

/** A valid WireGuard public key of a throw-away private key. */
export function randomPublicKey(): string {
  return derivePublicKey(randomBytes(32));
}

/** Catches the error of `fn` (sync or async); fails if it does not throw. */
export async function caught(fn: () => unknown): Promise<{ code?: string; field?: string; message: string }> {
  try {
    await fn();
  } catch (err) {
    return err as { code?: string; field?: string; message: string };
  }
  throw new Error('expected an error, got none');
}
