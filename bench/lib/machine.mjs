// Description of the machine a bench ran on.
import { readFileSync } from 'node:fs';
import { cpus, release, totalmem } from 'node:os';
import { execFileSync } from 'node:child_process';

function tryRun(file, args) {
  try {
    return execFileSync(file, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 5000 }).trim();
  } catch {
    return null;
  }
}

/** { nproc, cpuModel, kernel, node, memTotalMiB, os, tools } */
export function machineInfo() {
  let model = cpus()[0]?.model ?? 'unknown';
  try {
    const m = /^model name\s*:\s*(.*)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'));
    if (m) model = m[1].trim();
  } catch {
    /* not Linux */
  }
  let osName = null;
  try {
    osName = /^PRETTY_NAME="?([^"\n]*)"?/m.exec(readFileSync('/etc/os-release', 'utf8'))?.[1] ?? null;
  } catch {
    /* none */
  }
  const nproc = Number(tryRun('nproc', [])) || cpus().length;
  return {
    nproc,
    cpuModel: model,
    kernel: release(),
    node: process.version,
    memTotalMiB: Math.round(totalmem() / 1048576),
    os: osName,
    tools: {
      wg: tryRun('wg', ['--version'])?.split('\n')[0] ?? null,
      wireguardGo: tryRun('wireguard-go', ['--version'])?.split('\n')[0] ?? null,
      ip: tryRun('ip', ['-V']) ?? null,
    },
  };
}

/** One-line text form of {@link machineInfo}. */
export function machineLine(m = machineInfo()) {
  return `machine: ${m.nproc} CPU (${m.cpuModel}), ${m.memTotalMiB} MiB, kernel ${m.kernel}, node ${m.node}${m.os ? `, ${m.os}` : ''}`;
}
