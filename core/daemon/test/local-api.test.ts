import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { existsSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { isRustynetError, RustynetError } from '@rustynet/plugin-api';
import { LocalApi, localApiRequest, type LocalApiHandlers } from '../src/api/local-api.js';
import { tmpDir } from './helpers.js';

const handlers: LocalApiHandlers = {
  status: async () => ({ ok: true }),
  plugins: async () => [],
  up: async () => {
    throw new RustynetError('NOT_RUNNING', 'nope');
  },
  down: async () => ({}),
  reload: async () => ({}),
  metrics: async () => ({ contentType: 'text/plain; version=0.0.4; charset=utf-8', body: 'x 1\n' }),
  timeline: async () => [],
};

describe('local API', () => {
  it('removes a stale socket, serves JSON with mode 0600, maps errors, and removes the socket on stop', async () => {
    const sock = join(tmpDir(), 'api.sock');
    // Leave a stale socket behind: a child listens, then is killed with SIGKILL.
    const child = spawn(
      process.execPath,
      ['-e', `require('net').createServer().listen(${JSON.stringify(sock)}, () => console.log('up'))`],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
    const live = new LocalApi(sock, handlers);
    try {
      await live.start();
      expect.fail('should refuse a live socket');
    } catch (err) {
      expect(isRustynetError(err, 'ALREADY_RUNNING')).to.equal(true);
    }
    expect(existsSync(sock)).to.equal(true);
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    expect(existsSync(sock)).to.equal(true);

    const api = new LocalApi(sock, handlers);
    await api.start();
    expect(statSync(sock).mode & 0o777).to.equal(0o600);
    const s = await localApiRequest(sock, 'GET', '/v1/status');
    expect(s.json).to.deep.equal({ ok: true });
    const up = await localApiRequest(sock, 'POST', '/v1/up');
    expect(up.status).to.equal(409);
    expect((up.json as { error: { code: string } }).error.code).to.equal('NOT_RUNNING');
    const m = await localApiRequest(sock, 'GET', '/metrics');
    expect(m.body).to.equal('x 1\n');
    await api.stop();
    expect(existsSync(sock)).to.equal(false);
  });

  it('refuses a path that is not a socket', async () => {
    const p = join(tmpDir(), 'file');
    writeFileSync(p, 'x');
    try {
      await new LocalApi(p, handlers).start();
      expect.fail('should throw');
    } catch (err) {
      expect(isRustynetError(err, 'INVALID_INPUT')).to.equal(true);
    }
    expect(existsSync(p)).to.equal(true);
  });
});
