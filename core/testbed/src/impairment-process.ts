/**
 * The impairment shim as a process, so it can run inside a test network namespace
 * (`ip netns exec <ns> node impairment-process.js '<options JSON>'`).
 *
 * Protocol (JSON lines): on start it prints `{"listening":{host,port}}` (or `{"error":"..."}`
 * and exits 2); each stdin line is a command and gets one answer line:
 * - `{"cmd":"stats"}` → `{"stats":ImpairmentStats}`
 * - `{"cmd":"profiles","toServer":{...},"toClient":{...}}` → `{"ok":true}` or `{"error":"..."}`
 * - `{"cmd":"replay","type":N,"from":"new"|"same"}` → re-sends, unimpaired, the last
 *   client → server datagram whose second byte is `N`, from a fresh socket (`new`) or from that
 *   client's own upstream socket (`same`): `{"ok":true}` or `{"error":"nothing recorded"}`.
 * SIGTERM/SIGINT or the end of stdin: closes every socket, prints `{"final":ImpairmentStats}`, exits 0.
 */
import { createInterface } from 'node:readline';
import { ImpairmentShim, type ImpairmentShimOptions, type UdpAddress } from './impairment.js';

const print = (o: unknown): void => void process.stdout.write(`${JSON.stringify(o)}\n`);

async function main(): Promise<void> {
  const opts = JSON.parse(process.argv[2] ?? '') as ImpairmentShimOptions;
  const shim = new ImpairmentShim(opts);
  const last = new Map<number, { data: Buffer; client: UdpAddress }>();
  shim.onDatagram((dir, data, client) => {
    const type = data[1];
    if (dir === 'toServer' && type !== undefined) last.set(type, { data: Buffer.from(data), client });
  });
  print({ listening: await shim.start() });
  let stopping = false;
  const stop = async (): Promise<void> => {
    if (stopping) return;
    stopping = true;
    const final = shim.stats();
    await shim.stop();
    print({ final });
    process.exit(0);
  };
  for (const sig of ['SIGTERM', 'SIGINT'] as const) process.on(sig, () => void stop());
  const rl = createInterface({ input: process.stdin });
  rl.on('close', () => void stop());
  rl.on('line', (line) => {
    void (async () => {
      try {
        const c = JSON.parse(line) as { cmd: string; type?: number; from?: string } & Pick<ImpairmentShimOptions, 'toServer' | 'toClient'>;
        if (c.cmd === 'stats') print({ stats: shim.stats() });
        else if (c.cmd === 'profiles') {
          shim.setProfiles({ ...(c.toServer && { toServer: c.toServer }), ...(c.toClient && { toClient: c.toClient }) });
          print({ ok: true });
        } else if (c.cmd === 'replay') {
          const rec = last.get(Number(c.type));
          if (!rec) print({ error: 'nothing recorded' });
          else if (c.from === 'same') print(shim.sendAs(rec.client, rec.data) ? { ok: true } : { error: 'no upstream socket' });
          else {
            await shim.sendFromNewSocket(rec.data);
            print({ ok: true });
          }
        } else print({ error: `unknown command ${c.cmd}` });
      } catch (err) {
        print({ error: (err as Error).message });
      }
    })();
  });
}

main().catch((err: unknown) => {
  print({ error: (err as Error).message });
  process.exit(2);
});
