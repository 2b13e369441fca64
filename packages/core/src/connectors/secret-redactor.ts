/** Replaces values in text. */
const REDACTED = '[redacted]';

/**
 * Shortest run of a secret's leading characters that counts as the secret. An upstream that echoes the first 8 or
 * more characters of a key (in any case) is scrubbed; a shorter fragment is left, since it would blank ordinary words
 * and public key prefixes (`sk_live`) while holding little of the secret.
 */
export const MIN_REDACTED_PREFIX = 8;

/**
 * `text` lower-cased one UTF-16 unit at a time, keeping its length, so that offsets into it are offsets into `text`
 * (a character whose lower case is longer, such as `İ`, is kept as it is).
 */
function foldCase(text: string): string {
  let out = '';
  for (let i = 0; i < text.length; i++) {
    const c = text[i] as string;
    const lower = c.toLowerCase();
    out += lower.length === 1 ? lower : c;
  }
  return out;
}

/**
 * Remembers the secret values a connector resolved and scrubs them from any text that may leave the connector, such
 * as upstream error messages and response bodies: the raw value, its URL-encoded and base64 forms, in any letter case,
 * and any leading part of them at least {@link MIN_REDACTED_PREFIX} characters long (or the whole value, when it is
 * shorter). Values shorter than 4 characters are not tracked: they would blank out ordinary words and cannot be
 * secrets worth the name. Redaction is a last line of defence, not a guarantee: a secret split, reversed, hex-encoded
 * or otherwise transformed by the upstream is not recognised.
 */
export class SecretRedactor {
  /** Tracked forms, case-folded. */
  readonly #values = new Set<string>();

  /** Tracks a secret value. */
  add(value: string): void {
    if (value.length < 4) return;
    for (const form of [value, encodeURIComponent(value), Buffer.from(value, 'utf8').toString('base64')])
      this.#values.add(foldCase(form));
  }

  /** Whether `text` contains a tracked value (or a long enough leading part of one), in any case. */
  leaks(text: string): boolean {
    return this.#ranges(text).length > 0;
  }

  /** `text` with every tracked value, or leading part of one, replaced by `[redacted]`. */
  redact(text: string): string {
    const ranges = this.#ranges(text);
    if (!ranges.length) return text;
    let out = '';
    let at = 0;
    for (const [start, end] of ranges) {
      out += `${text.slice(at, start)}${REDACTED}`;
      at = end;
    }
    return out + text.slice(at);
  }

  /**
   * `value` (parsed JSON, such as a tool result) with every string in it redacted; the value itself when nothing is
   * tracked or nothing leaks.
   */
  redactJson<T>(value: T): T {
    if (!this.#values.size) return value;
    const text = JSON.stringify(value);
    if (text === undefined) return value;
    // Reviving each string (not the serialized text) keeps escapes intact whatever the secret holds.
    let changed = false;
    const out = JSON.parse(text, (_key, v: unknown) => {
      if (typeof v !== 'string') return v;
      const r = this.redact(v);
      if (r !== v) changed = true;
      return r;
    }) as T;
    return changed ? out : value;
  }

  /** The spans of `text` to scrub, sorted and merged. */
  #ranges(text: string): [number, number][] {
    if (!this.#values.size) return [];
    const folded = foldCase(text);
    const found: [number, number][] = [];
    for (const value of this.#values) {
      const head = value.slice(0, Math.min(value.length, MIN_REDACTED_PREFIX));
      // Bounded: each match moves `from` forward by at least one.
      for (let from = folded.indexOf(head); from !== -1;) {
        let end = from + head.length;
        while (end - from < value.length && folded[end] === value[end - from]) end++;
        found.push([from, end]);
        from = folded.indexOf(head, end);
      }
    }
    found.sort((a, b) => a[0] - b[0] || b[1] - a[1]);
    const merged: [number, number][] = [];
    for (const [start, end] of found) {
      const last = merged.at(-1);
      if (last && start <= last[1]) last[1] = Math.max(last[1], end);
      else merged.push([start, end]);
    }
    return merged;
  }
}
