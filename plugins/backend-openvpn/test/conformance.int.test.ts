/**
 * The conformance kit against this plugin, as a third-party author would run it from their own
 * test suite (`rustynet plugin test plugins/backend-openvpn` does the same from the CLI).
 * Needs root: the kit creates network namespaces.
 */
import { expect } from 'chai';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { runPluginTest } from '@rustynet/conformance-kit';

const PLUGIN = fileURLToPath(new URL('../../', import.meta.url));
const REPO = fileURLToPath(new URL('../../../../', import.meta.url));

describe('conformance kit: @rustynet/backend-openvpn (int, root)', function () {
  this.timeout(300_000);

  it('passes every test its declared capabilities require; skips carry reasons', async function () {
    let text = '';
    const out = new Writable({
      write(chunk: Buffer, _enc, cb) {
        text += chunk.toString();
        cb();
      },
    });
    const code = await runPluginTest({ plugin: PLUGIN, reporter: 'spec', stdout: out, stderr: out, cwd: REPO });
    expect(code, text).to.equal(0);
    expect(text).to.match(/\b0 failed\b/);
  });
});
