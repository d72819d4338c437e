/**
 * The relay's stateless return-routability tokens (docs/relay.md, "Registration"): a CHALLENGE
 * carries a random nonce, a time bucket and HMAC-SHA256(secret, context | bucket | port | nonce |
 * address); a REGISTER proves its sender received the CHALLENGE at that address by echoing them.
 * Nothing is stored per challenge, so a HELLO flood costs no memory.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { invalidInput } from '@rustynet/plugin-api';
import { CHALLENGE_BODY_SIZE, NONCE_SIZE, TOKEN_MAC_CONTEXT } from '../protocol.js';

/** Mints and checks challenge tokens with one secret. */
export class ChallengeTokens {
  private readonly secret: Buffer;

  /**
   * @param secret the HMAC key (≥ 32 bytes; random when undefined).
   * @param windowMs the length of a time bucket; a token is valid in its bucket and the next.
   * @param now the clock (ms).
   * @throws RustynetError `INVALID_INPUT` naming `secret` when it is shorter than 32 bytes.
   */
  constructor(
    secret: Uint8Array | undefined,
    private readonly windowMs: number,
    private readonly now: () => number,
  ) {
    if (secret !== undefined && secret.length < 32) throw invalidInput('secret', 'must be at least 32 bytes');
    this.secret = Buffer.from(secret ?? randomBytes(32));
  }

  /** A CHALLENGE body (`CHALLENGE_BODY_SIZE` bytes: nonce, bucket, MAC) for `address`:`port`. */
  mint(address: string, port: number): Buffer {
    const bucket = this.bucket();
    const body = Buffer.allocUnsafe(CHALLENGE_BODY_SIZE);
    randomBytes(NONCE_SIZE).copy(body, 0);
    body.writeUInt32BE(bucket, NONCE_SIZE);
    this.mac(bucket, body.subarray(0, NONCE_SIZE), address, port).copy(body, NONCE_SIZE + 4);
    return body;
  }

  /** True when (`bucket`, `nonce`, `mac`) was minted for `address`:`port` in this or the previous bucket. */
  valid(bucket: number, nonce: Uint8Array, mac: Uint8Array, address: string, port: number): boolean {
    const cur = this.bucket();
    if (bucket !== cur && bucket !== (cur - 1) >>> 0) return false;
    const expected = this.mac(bucket, nonce, address, port);
    return mac.length === expected.length && timingSafeEqual(expected, mac);
  }

  private mac(bucket: number, nonce: Uint8Array, address: string, port: number): Buffer {
    const head = Buffer.allocUnsafe(6);
    head.writeUInt32BE(bucket >>> 0, 0);
    head.writeUInt16BE(port & 0xffff, 4);
    return createHmac('sha256', this.secret).update(TOKEN_MAC_CONTEXT).update(head).update(nonce).update(address).digest();
  }

  private bucket(): number {
    return Math.floor(this.now() / this.windowMs) >>> 0;
  }
}
