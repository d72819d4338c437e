/**
 * Framing of the relay's TLS carrier (docs/relay.md, "TLS carrier"): each relay datagram travels
 * on the TCP stream as a 2-byte big-endian length followed by that many bytes, exactly the UDP
 * datagram (version byte first). Lengths 0 and above {@link MAX_FRAME} are a protocol error: the
 * connection is closed.
 */
import { MAX_UDP_PAYLOAD } from '../protocol.js';

/** Largest frame payload: the largest datagram the UDP protocol carries. */
export const MAX_FRAME = MAX_UDP_PAYLOAD;

/** Encodes one datagram (or a gather list) as a frame. @throws RangeError for 0 or > {@link MAX_FRAME} bytes. */
export function encodeFrame(msg: Buffer | readonly Buffer[]): Buffer {
  const parts = Buffer.isBuffer(msg) ? [msg] : msg;
  const len = parts.reduce((n, p) => n + p.length, 0);
  if (len === 0 || len > MAX_FRAME) throw new RangeError(`frame of ${len} bytes (1..${MAX_FRAME})`);
  const head = Buffer.allocUnsafe(2);
  head.writeUInt16BE(len, 0);
  return Buffer.concat([head, ...parts], len + 2);
}

/**
 * Splits a byte stream into frames. `push` returns the complete frames so far, or a string (the
 * reason) on a protocol error, after which the decoder refuses everything. Holds at most one
 * partial frame (≤ 65 509 bytes).
 */
export class FrameDecoder {
  private buf: Buffer = Buffer.alloc(0);
  private failed: string | undefined;

  push(chunk: Buffer): Buffer[] | string {
    if (this.failed !== undefined) return this.failed;
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    const out: Buffer[] = [];
    let off = 0;
    while (this.buf.length - off >= 2) {
      const len = this.buf.readUInt16BE(off);
      if (len === 0 || len > MAX_FRAME) {
        this.failed = `frame length ${len} outside 1..${MAX_FRAME}`;
        this.buf = Buffer.alloc(0);
        return this.failed;
      }
      if (this.buf.length - off - 2 < len) break;
      out.push(Buffer.from(this.buf.subarray(off + 2, off + 2 + len)));
      off += 2 + len;
    }
    this.buf = off === 0 ? this.buf : Buffer.from(this.buf.subarray(off));
    return out;
  }

  /** Bytes of an incomplete frame still held (a stream that ends here was truncated). */
  pending(): number {
    return this.buf.length;
  }
}
