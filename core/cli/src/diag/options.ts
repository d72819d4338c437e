/** Option parsers shared by the diagnostic commands. */
import { InvalidArgumentError } from 'commander';

/**
 * A commander argument parser accepting a decimal integer in `[min, max]`.
 * @throws InvalidArgumentError (a usage error, exit 2) naming the option.
 */
export function intOption(name: string, min: number, max: number): (value: string) => number {
  return (value) => {
    if (!/^\d+$/.test(value)) throw new InvalidArgumentError(`${name} must be an integer ${min}..${max}`);
    const n = Number(value);
    if (n < min || n > max) throw new InvalidArgumentError(`${name} must be ${min}..${max}, got ${n}`);
    return n;
  };
}
