import { expect } from 'chai';
import { writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { isRustynetError } from '@rustynet/plugin-api';
import { FileNetmapSource, UrlNetmapSource } from '../src/netmap/source.js';
import { generateEd25519KeyPair } from '../src/services/key-store.js';
import { signNetmap } from '../src/trust/sign.js';
import { verifySignedNetmap } from '../src/trust/verify.js';
import { makeNetmap, tmpDir } from './helpers.js';

async function rejection(p: Promise<unknown>): Promise<{ code: string; field?: string; details?: Record<string, unknown> }> {
  try {
    await p;
  } catch (err) {
    if (!isRustynetError(err)) throw err;
    return { code: err.code, ...(err.field !== undefined && { field: err.field }), ...(err.details && { details: err.details }) };
  }
  throw new Error('expected a rejection');
}

describe('netmap input limits', () => {
  const cp = generateEd25519KeyPair();
  const text = JSON.stringify(signNetmap(makeNetmap(3), cp.privateKeyPem));

  describe('file source', () => {
    it('refuses a file over maxBytes before parsing it, once per content', async () => {
      const file = join(tmpDir(), 'netmap.json');
      writeFileSync(file, text + ' '.repeat(2000));
      const src = new FileNetmapSource(file, 1024);
      const e = await rejection(src.fetch());
      expect(e).to.deep.include({ code: 'NETMAP_TOO_LARGE', field: 'netmap.file' });
      expect(e.details).to.deep.include({ limit: 1024 });
      // The same file again is "unchanged", not another rejection every poll.
      expect(await src.fetch()).to.deep.equal({ changed: false });
      // A forced read (reload) reports it again.
      expect((await rejection(src.fetch(true))).code).to.equal('NETMAP_TOO_LARGE');
    });

    it('accepts a file at the limit', async () => {
      const file = join(tmpDir(), 'netmap.json');
      writeFileSync(file, text);
      const got = await new FileNetmapSource(file, Buffer.byteLength(text)).fetch();
      expect(got.changed).to.equal(true);
    });

    it('refuses duplicate member names with DUPLICATE_KEY naming the field', async () => {
      const file = join(tmpDir(), 'netmap.json');
      writeFileSync(file, text.replace('"version":', '"version":99,"version":'));
      const e = await rejection(new FileNetmapSource(file).fetch());
      expect(e).to.deep.include({ code: 'DUPLICATE_KEY', field: 'netmap.version' });
    });

    it('refuses text that is not JSON with NETMAP_INVALID', async () => {
      const file = join(tmpDir(), 'netmap.json');
      writeFileSync(file, '{"netmap":');
      expect((await rejection(new FileNetmapSource(file).fetch())).code).to.equal('NETMAP_INVALID');
    });
  });

  describe('URL source', () => {
    let server: Server;
    let body = '';
    let chunked = false;
    let url = '';
    before(async () => {
      server = createServer((_req, res) => {
        if (chunked) {
          res.writeHead(200, { 'content-type': 'application/json' });
          for (let i = 0; i < body.length; i += 512) res.write(body.slice(i, i + 512));
          res.end();
        } else res.end(body);
      });
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/netmap`;
    });
    after(() => new Promise<void>((r) => server.close(() => r())));

    it('refuses a body whose content-length is over maxBytes', async () => {
      body = text + ' '.repeat(2000);
      chunked = false;
      const e = await rejection(new UrlNetmapSource(url, 5000, undefined, 1024).fetch());
      expect(e).to.deep.include({ code: 'NETMAP_TOO_LARGE', field: 'netmap.url' });
    });

    it('cuts off a streamed body without content-length once it passes maxBytes', async () => {
      body = text + ' '.repeat(4000);
      chunked = true;
      const e = await rejection(new UrlNetmapSource(url, 5000, undefined, 1024).fetch());
      expect(e.code).to.equal('NETMAP_TOO_LARGE');
    });

    it('reads a body under the limit', async () => {
      body = text;
      chunked = true;
      const got = await new UrlNetmapSource(url, 5000, undefined, 1 << 20).fetch();
      expect(got.changed).to.equal(true);
      expect(got.text).to.equal(text);
    });

    it('refuses duplicate member names', async () => {
      body = text.replace('"nodes":', '"nodes":[],"nodes":');
      chunked = false;
      expect(await rejection(new UrlNetmapSource(url).fetch())).to.deep.include({ code: 'DUPLICATE_KEY', field: 'netmap.nodes' });
    });
  });

  describe('semantic checks', () => {
    it('refuses an IPv4-mapped IPv6 node address, naming the field', async () => {
      const nm = makeNetmap(3);
      const at = nm.nodes[1].addresses.push('::ffff:100.64.0.9/128') - 1;
      const signed = signNetmap(nm, cp.privateKeyPem);
      const e = await rejection(Promise.resolve().then(() => verifySignedNetmap(signed, cp.publicKeyB64)));
      expect(e).to.deep.include({ code: 'NETMAP_INVALID', field: `nodes[1].addresses[${at}]` });
    });

    it('still accepts ordinary IPv6 node addresses', () => {
      const nm = makeNetmap(3);
      nm.nodes[1].addresses.push('fd00::5/128');
      expect(() => verifySignedNetmap(signNetmap(nm, cp.privateKeyPem), cp.publicKeyB64)).not.to.throw();
    });
  });
});
