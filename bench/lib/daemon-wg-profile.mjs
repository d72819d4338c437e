// The --profile part of phase 1: rustynetd under `node --cpu-prof`, the same full applies and
// one-peer changes again, and the profile's samples inside the timed reload windows.
import { readdirSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { summarize } from './stats.mjs';
import { summarizeCpuProfile } from './cpuprofile.mjs';
import { startDaemon, timedReload } from './daemon.mjs';
import { deltaFileOf } from './synthetic-netmap.mjs';

/**
 * Restarts node `a`'s daemon with --cpu-prof (profiles in $TMPDIR/rustynet-bench-profiles), runs
 * `cfg.runs` full applies of `peers`, `cfg.changeRuns` one-peer changes by whole map and as many
 * by signed delta, stops it and summarizes the new profile. The daemon is stopped on failure too.
 * @returns { file, fullApplyMs, changeMs, deltaMs, fullApply, change, delta, whole }
 */
export async function profileApplies(cfg, { mesh, a, pub, self, peers }) {
  const { root, log, backend: BACKEND, runs: RUNS, changeRuns: CHANGE_RUNS, nodeArgs: NODE_ARGS } = cfg;
  const profDir = join(tmpdir(), 'rustynet-bench-profiles');
  await mkdir(profDir, { recursive: true });
  const before = new Set(readdirSync(profDir));
  await rm(join(a.dir, 'state'), { recursive: true, force: true });
  let v = await pub.publish([self]);
  log(
    `profiling: rustynetd --cpu-prof (${RUNS} full applies + ${CHANGE_RUNS} one-peer changes, whole map and delta), profiles in ${profDir}`,
  );
  let daemon = await startDaemon(mesh, a, {
    backend: BACKEND,
    cwd: root,
    nodeArgs: [...NODE_ARGS, '--cpu-prof', '--cpu-prof-dir', profDir],
    deltaFile: deltaFileOf(a),
  });
  const pFull = [];
  const wFull = [];
  const pChange = [];
  const wChange = [];
  const pDelta = [];
  const wDelta = [];
  try {
    await daemon.waitUp(v);
    const us = () => Number(process.hrtime.bigint() / 1000n);
    const timedWindow = async (win, samples, version) => {
      const a0 = us();
      samples.push(await timedReload(daemon, version));
      win.push([a0, us()]);
    };
    for (let r = 0; r < RUNS; r++) {
      v = await pub.publish([self]);
      await timedReload(daemon, v);
      v = await pub.publish([self, ...peers]);
      await timedWindow(wFull, pFull, v);
    }
    for (let r = 0; r < CHANGE_RUNS; r++) {
      peers[0].endpoints = [{ host: peers[0].endpoints[0].host, port: 51823 + (r % 2) }];
      v = await pub.publish([self, ...peers]);
      await timedWindow(wChange, pChange, v);
    }
    for (let r = 0; r < CHANGE_RUNS; r++) {
      peers[0].endpoints = [{ host: peers[0].endpoints[0].host, port: 51823 + (r % 2) }];
      v = await pub.publishDelta([self, ...peers]);
      await timedWindow(wDelta, pDelta, v);
    }
    await daemon.stop();
    daemon = undefined;
  } finally {
    if (daemon) await daemon.stop().catch(() => undefined);
  }
  const files = readdirSync(profDir).filter((f) => f.endsWith('.cpuprofile') && !before.has(f));
  const file = files.length > 0 ? join(profDir, files[0]) : null;
  return {
    file,
    fullApplyMs: summarize(pFull),
    changeMs: summarize(pChange),
    deltaMs: summarize(pDelta),
    fullApply: file ? summarizeCpuProfile(file, root, 25, wFull) : null,
    change: file ? summarizeCpuProfile(file, root, 25, wChange) : null,
    delta: file ? summarizeCpuProfile(file, root, 25, wDelta) : null,
    whole: file ? summarizeCpuProfile(file, root, 25) : null,
  };
}
