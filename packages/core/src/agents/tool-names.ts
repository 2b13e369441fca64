import crypto from 'node:crypto';

/** What OpenAI's and Anthropic's APIs accept as a tool (function) name. */
export const MODEL_TOOL_NAME = /^[a-zA-Z0-9_-]{1,64}$/;

/**
 * A reversible mapping between our tool names (`<connector>.<tool>`, which model APIs refuse because of the dot)
 * and names a model API accepts. A name is made safe by turning every other character into `_`; where that is
 * longer than 64 characters or collides with another tool's safe name, it is cut and given a hash of the original,
 * so the mapping stays one-to-one. The same set of names always maps the same way, whatever their order.
 *
 * @example
 * const names = new ToolNameMap(['payments.get_order']);
 * names.toModel('payments.get_order');   // 'payments_get_order'
 * names.fromModel('payments_get_order'); // 'payments.get_order'
 */
export class ToolNameMap {
  readonly #toModel = new Map<string, string>();
  readonly #fromModel = new Map<string, string>();

  constructor(names: Iterable<string>) {
    const sorted = [...new Set(names)].sort();
    const plain = new Map<string, string[]>();
    for (const name of sorted) {
      const safe = name.replace(/[^a-zA-Z0-9_-]/g, '_');
      plain.set(safe, [...(plain.get(safe) ?? []), name]);
    }
    for (const name of sorted) {
      const safe = name.replace(/[^a-zA-Z0-9_-]/g, '_');
      const clash = (plain.get(safe)?.length ?? 0) > 1;
      const ok = MODEL_TOOL_NAME.test(safe) && !clash;
      const modelName = ok ? safe : ToolNameMap.hashed(name, safe);
      this.#toModel.set(name, modelName);
      this.#fromModel.set(modelName, name);
    }
  }

  private static hashed(name: string, safe: string): string {
    const digest = crypto.createHash('sha256').update(name).digest('hex').slice(0, 10);
    return `${(safe || 'tool').slice(0, 53)}_${digest}`;
  }

  /** The model-safe name of one of our tools; throws for a tool the map was not built with. */
  toModel(name: string): string {
    const out = this.#toModel.get(name);
    if (out === undefined) throw new Error(`tool '${name}' is not offered to this model`);
    return out;
  }

  /** Our name for a name the model used, or undefined when the model named a tool it was not offered. */
  fromModel(modelName: string): string | undefined {
    return this.#fromModel.get(modelName);
  }

  /** Our names, in order. */
  names(): string[] {
    return [...this.#toModel.keys()];
  }
}
