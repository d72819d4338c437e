/**
 * Every `rustynet` command group. Each module exports `register(program)`; add one import and
 * one list entry per group.
 */
import type { Command } from 'commander';
import { register as keygen } from './keygen.js';
import { register as netmap } from './netmap.js';
import { register as status } from './status.js';
import { register as metrics } from './metrics.js';
import { register as service } from './service.js';
import { register as plugin } from './plugin.js';
import { register as relay } from './relay.js';
import { register as policy } from './policy.js';
import { register as control } from './control.js';
import { register as verifyRelease } from './verify-release.js';
import { register as ping } from './ping.js';
import { register as netcheck } from './netcheck.js';
import { register as lookup } from './lookup.js';
import { register as audit } from './audit.js';
import { register as debug } from './debug.js';
import { register as completion } from './completion.js';
import { register as rotateKeys } from './rotate-keys.js';

/** The registration functions, in `--help` order. */
export const commandGroups: ReadonlyArray<(program: Command) => void> = [
  status,
  metrics,
  ping,
  netcheck,
  lookup,
  keygen,
  rotateKeys,
  netmap,
  plugin,
  relay,
  policy,
  control,
  service,
  verifyRelease,
  audit,
  debug,
  completion,
];

/** Registers every command group on `program`. */
export function registerAll(program: Command): void {
  for (const register of commandGroups) register(program);
}
