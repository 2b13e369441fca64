import { UserError } from '../errors.js';

const UNITS = { s: 1, m: 60, h: 3600, d: 86_400 } as const;

/** Parses `30s`, `15m`, `1h`, `2d` into seconds; anything else is a {@link UserError} naming `field`. */
export function parseDurationSec(value: string, field: string): number {
  const m = /^(\d{1,6})([smhd])$/.exec(value.trim());
  if (!m) throw new UserError(`'${value}' is not a duration like 30s, 15m, 1h or 2d`, { field });
  return Number(m[1]) * UNITS[m[2] as keyof typeof UNITS];
}
