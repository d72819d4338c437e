/**
 * Node names. A name is a DNS label (the netmap's NODE_ID_PATTERN). On enrolment a taken name
 * gets the first free suffix `-2`, `-3`, ... (truncated to fit 63 characters); `rename` to a
 * taken name is refused.
 */
import { NODE_ID_PATTERN, RustynetError } from '@rustynet/plugin-api';

const NAME_RE = new RegExp(NODE_ID_PATTERN);

/** @throws RustynetError `INVALID_INPUT` unless `name` is a lower-case DNS label. */
export function validateNodeName(name: unknown, field: string): asserts name is string {
  if (typeof name !== 'string' || !NAME_RE.test(name)) {
    throw new RustynetError('INVALID_INPUT', `${field} must be a DNS label (a-z, 0-9, -; 1-63 characters), got ${JSON.stringify(name)}`, {
      field,
    });
  }
}

/** The first of `base`, `base-2`, `base-3`, ... not in `taken`. */
export function pickNodeName(base: string, taken: ReadonlySet<string>): string {
  if (!taken.has(base)) return base;
  for (let i = 2; ; i++) {
    const suffix = `-${i}`;
    const candidate = `${base.slice(0, 63 - suffix.length).replace(/-+$/, '')}${suffix}`;
    if (!taken.has(candidate)) return candidate;
  }
}
