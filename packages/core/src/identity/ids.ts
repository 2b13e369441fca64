import { z } from 'zod';

/** Ids of agents, humans and roles: lower-case, digits, `.`, `_`, `-`; 1–64 characters, starting alphanumeric. */
export const idSchema = z
  .string({ error: 'is required' })
  .regex(
    /^[a-z0-9][a-z0-9._-]{0,63}$/,
    'must be 1-64 characters of a-z, 0-9, ".", "_", "-", starting with a letter or digit',
  );

/** Group names such as `approvers:finance`, `auditors`, `admins`. */
export const groupSchema = z
  .string()
  .regex(/^[a-z0-9][a-z0-9._:-]{0,63}$/, 'must be 1-64 characters of a-z, 0-9, ".", "_", ":", "-"');
