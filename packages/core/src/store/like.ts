/**
 * A `LIKE` pattern that matches `text` anywhere, with `%`, `_` and the escape character itself escaped, for
 * `column LIKE ? ESCAPE '!'` (the same on SQLite and PostgreSQL; `!` avoids backslash quoting differences).
 *
 * @example db.all("SELECT * FROM agents WHERE id LIKE ? ESCAPE '!'", [containsPattern('50%')])
 */
export function containsPattern(text: string): string {
  return `%${text.replace(/[!%_]/g, (c) => `!${c}`)}%`;
}
