/** Command-line arguments of the scripts under scripts/. */

/** A count argument (`--limit 40`): a whole number ≥ 0, anything else refused by name. */
export function count(name: string, value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0)
    throw new Error(`--${name} must be a whole number, got "${value}"`);
  return n;
}
