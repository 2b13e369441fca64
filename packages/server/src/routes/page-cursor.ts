import { UserError } from '@autonomy-os/core';

/**
 * Opaque page cursors: the key of the last item of a page, as base64url JSON. The server reads them back strictly;
 * a cursor it did not write is a 400 naming `cursor`, never a silently different page.
 */
export function encodeCursor(key: readonly (string | number)[]): string {
  return Buffer.from(JSON.stringify(key), 'utf8').toString('base64url');
}

/** The key a cursor holds, checked against the expected element types. */
export function decodeCursor<T extends readonly ('string' | 'number')[]>(
  cursor: string,
  shape: T,
): { [K in keyof T]: T[K] extends 'number' ? number : string } {
  let key: unknown;
  try {
    key = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    key = undefined;
  }
  if (
    !Array.isArray(key) ||
    key.length !== shape.length ||
    key.some((v, i) => typeof v !== shape[i] || (typeof v === 'number' && !Number.isSafeInteger(v)))
  ) {
    throw new UserError("must be a previous page's nextCursor", { field: 'cursor' });
  }
  return key as never;
}
