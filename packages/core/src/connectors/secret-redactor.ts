/** Replaces values in text. */
const REDACTED = '[redacted]';

/**
 * Remembers the secret values a connector resolved and scrubs them (raw, URL-encoded and base64) from any text that
 * may leave the connector, such as upstream error messages. Values shorter than 4 characters are not tracked: they
 * would blank out ordinary words and cannot be secrets worth the name.
 */
export class SecretRedactor {
  readonly #values = new Set<string>();

  /** Tracks a secret value. */
  add(value: string): void {
    if (value.length < 4) return;
    this.#values.add(value);
    this.#values.add(encodeURIComponent(value));
    this.#values.add(Buffer.from(value, 'utf8').toString('base64'));
  }

  /** Whether `text` contains a tracked value. */
  leaks(text: string): boolean {
    for (const value of this.#values) if (text.includes(value)) return true;
    return false;
  }

  /** `text` with every tracked value replaced by `[redacted]`. */
  redact(text: string): string {
    let out = text;
    // Longest first, so a value that contains another is replaced whole.
    for (const value of [...this.#values].sort((a, b) => b.length - a.length))
      out = out.split(value).join(REDACTED);
    return out;
  }
}
