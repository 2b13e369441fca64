import crypto from 'node:crypto';
import { promisify } from 'node:util';
import { UserError } from '../errors.js';

const scrypt = promisify(crypto.scrypt) as (
  password: crypto.BinaryLike,
  salt: crypto.BinaryLike,
  keylen: number,
  options: crypto.ScryptOptions,
) => Promise<Buffer>;

/**
 * scrypt parameters: N = 2^17, r = 8, p = 1 (OWASP's recommendation for scrypt), a 16-byte salt and a 32-byte key.
 * One hash takes about 128 MiB and a few hundred milliseconds, which is the point: a stolen table is slow to
 * guess. The parameters are stored with each hash, so raising them later leaves old hashes verifiable.
 */
const PARAMS = { N: 2 ** 17, r: 8, p: 1, keyLen: 32 } as const;

/** Shortest password accepted. */
export const PASSWORD_MIN_LENGTH = 12;
/** Longest password accepted (bounds the KDF's input, not its cost). */
export const PASSWORD_MAX_LENGTH = 1024;

/** Refuses a password that is too short or too long, naming the field; never echoes it. */
export function checkPasswordStrength(password: string, field = 'password'): void {
  if (typeof password !== 'string' || password.length < PASSWORD_MIN_LENGTH)
    throw new UserError(`must be at least ${PASSWORD_MIN_LENGTH} characters`, { field });
  if (password.length > PASSWORD_MAX_LENGTH)
    throw new UserError(`must be at most ${PASSWORD_MAX_LENGTH} characters`, { field });
}

const maxmem = (n: number, r: number) => 128 * n * r * 2;

/**
 * A slow, salted hash of a password as `scrypt$N$r$p$salt$key` (base64url parts).
 *
 * @example const stored = await hashPassword('correct horse battery staple');
 */
export async function hashPassword(password: string): Promise<string> {
  checkPasswordStrength(password);
  const salt = crypto.randomBytes(16);
  const { N, r, p, keyLen } = PARAMS;
  const key = await scrypt(password.normalize('NFC'), salt, keyLen, { N, r, p, maxmem: maxmem(N, r) });
  return ['scrypt', N, r, p, salt.toString('base64url'), key.toString('base64url')].join('$');
}

/** Whether `password` matches `stored` (constant-time comparison); false for a malformed hash. */
export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const [kind, n, r, p, salt, key] = stored.split('$');
  if (kind !== 'scrypt' || !salt || !key) return false;
  const N = Number(n);
  const R = Number(r);
  const P = Number(p);
  if (![N, R, P].every((x) => Number.isInteger(x) && x > 0) || N > 2 ** 20) return false;
  const want = Buffer.from(key, 'base64url');
  if (password.length > PASSWORD_MAX_LENGTH) return false;
  const got = await scrypt(password.normalize('NFC'), Buffer.from(salt, 'base64url'), want.length, {
    N,
    r: R,
    p: P,
    maxmem: maxmem(N, R),
  });
  return got.length === want.length && crypto.timingSafeEqual(got, want);
}

/** A hash of a random password, verified against when the human has none, so a miss costs as much as a hit. */
let decoy: Promise<string> | undefined;
export function decoyHash(): Promise<string> {
  decoy ??= hashPassword(crypto.randomBytes(24).toString('base64url'));
  return decoy;
}
