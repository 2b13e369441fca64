import { UserError } from '../errors.js';
import type { CedarValue } from './cedar/index.js';

/**
 * The Cedar type of a tool argument, read from the tool's JSON Schema. Only what Cedar can type is typed:
 * `integer` → Long, `number` → decimal, `string`, `boolean`, arrays with `items` → Sets, objects → Records of their
 * `properties` (those not in `required`, or that may be `null`, optional). Anything else (`$ref`, `oneOf`, a union of
 * two types, an array without `items`) has no Cedar type, and an argument without one is not given to policies.
 */
export type InputType =
  | { kind: 'long' }
  | { kind: 'decimal' }
  | { kind: 'string' }
  | { kind: 'bool' }
  | { kind: 'set'; of: InputType }
  | { kind: 'record'; attrs: Map<string, { type: InputType; required: boolean }> };

type Json = Record<string, unknown>;

const isObject = (x: unknown): x is Json => x !== null && typeof x === 'object' && !Array.isArray(x);

/** The non-null JSON Schema types `schema` allows, and whether it allows `null`. */
function typesOf(schema: Json): { types: string[]; nullable: boolean } {
  const raw = schema['type'];
  let list: string[];
  if (typeof raw === 'string') list = [raw];
  else if (Array.isArray(raw)) list = raw.filter((t): t is string => typeof t === 'string');
  else if (Array.isArray(schema['enum']) && schema['enum'].every((v) => typeof v === 'string'))
    list = ['string'];
  else if (typeof schema['const'] === 'string') list = ['string'];
  else if (isObject(schema['properties'])) list = ['object'];
  else list = [];
  const nullable = list.includes('null');
  return { types: list.filter((t) => t !== 'null'), nullable };
}

/** Keys starting with `__` are renamed so input can never spell an entity reference or an extension value. */
export function cedarKey(key: string): string {
  return key.startsWith('__') ? `_x${key}` : key;
}

/**
 * The Cedar type of a JSON Schema, or undefined when it has none (see {@link InputType}). A number schema that also
 * allows integers is a decimal: `number` includes the integers, and the declared type, not the value, decides.
 */
export function inputTypeOf(schema: unknown): InputType | undefined {
  if (!isObject(schema)) return undefined;
  if ('$ref' in schema || 'oneOf' in schema || 'anyOf' in schema || 'allOf' in schema) return undefined;
  const { types } = typesOf(schema);
  const kinds = new Set(types.map((t) => (t === 'integer' ? 'number' : t)));
  if (kinds.size !== 1) return undefined;
  switch (types.includes('number') ? 'number' : types[0]) {
    case 'integer':
      return { kind: 'long' };
    case 'number':
      return { kind: 'decimal' };
    case 'string':
      return { kind: 'string' };
    case 'boolean':
      return { kind: 'bool' };
    case 'array': {
      const of = inputTypeOf(schema['items']);
      return of ? { kind: 'set', of } : undefined;
    }
    case 'object': {
      const attrs = new Map<string, { type: InputType; required: boolean }>();
      const required = new Set(
        Array.isArray(schema['required'])
          ? schema['required'].filter((r): r is string => typeof r === 'string')
          : [],
      );
      const props = isObject(schema['properties']) ? schema['properties'] : {};
      for (const [k, sub] of Object.entries(props)) {
        const type = inputTypeOf(sub);
        if (!type) continue;
        const nullable = isObject(sub) && typesOf(sub).nullable;
        attrs.set(cedarKey(k), { type, required: required.has(k) && !nullable });
      }
      return { kind: 'record', attrs };
    }
    default:
      return undefined;
  }
}

type RecordType = Extract<InputType, { kind: 'record' }>;
const recordTypes = new WeakMap<object, RecordType>();

/**
 * The type of a tool's whole input: a record, empty when the tool declares no object schema. Computed once per
 * schema object (schemas are not mutated once a tool is registered).
 */
export function inputRecordType(inputSchema: unknown): RecordType {
  if (isObject(inputSchema)) {
    const cached = recordTypes.get(inputSchema);
    if (cached) return cached;
  }
  const t = inputTypeOf(inputSchema);
  const out: RecordType = t?.kind === 'record' ? t : { kind: 'record', attrs: new Map() };
  if (isObject(inputSchema)) recordTypes.set(inputSchema, out);
  return out;
}

/** The largest magnitude a Cedar decimal holds (64-bit, four decimal places). */
const DECIMAL_LIMIT = 922337203685477;

/**
 * A JSON number as Cedar `decimal` text (`50` → `"50.0"`), or undefined when Cedar cannot hold it exactly (more than
 * four decimal places, or beyond ±922337203685477).
 */
export function decimalText(v: number): string | undefined {
  if (!Number.isFinite(v) || Math.abs(v) >= DECIMAL_LIMIT) return undefined;
  const fixed = v.toFixed(4);
  if (Number(fixed) !== v) return undefined;
  return fixed.replace(/0+$/, '').replace(/\.$/, '.0');
}

/** Input that passed the tool's JSON Schema but that Cedar cannot hold; names the argument (`input.amount`). */
export class InputConversionError extends UserError {}

function fail(path: string, message: string): never {
  throw new InputConversionError(message, { field: path });
}

/**
 * Converts a tool's input to the Cedar value policies see, by the declared type: a `number` argument is always a
 * `decimal` (`50` and `50.0` alike), an `integer` one a Long. Only declared arguments with a Cedar type are kept
 * (that is what the load-time type check checked policies against); `null` means absent. A value the type cannot
 * hold (a number with five decimal places) is an {@link InputConversionError} naming the argument — never a guess.
 */
export function toCedarInput(input: unknown, type: InputType, path = 'input'): CedarValue | undefined {
  if (input === null || input === undefined) return undefined;
  switch (type.kind) {
    case 'long':
      if (typeof input !== 'number' || !Number.isSafeInteger(input))
        fail(path, 'must be an integer within ±2^53 to be compared by policies');
      return input;
    case 'decimal': {
      if (typeof input !== 'number') return fail(path, 'must be a number');
      const text = decimalText(input);
      if (text === undefined)
        fail(
          path,
          'must have at most four decimal places (and be below 922337203685477) to be compared by policies',
        );
      return { __extn: { fn: 'decimal', arg: text } };
    }
    case 'string':
      if (typeof input !== 'string') fail(path, 'must be a string');
      return input;
    case 'bool':
      if (typeof input !== 'boolean') fail(path, 'must be a boolean');
      return input;
    case 'set': {
      if (!Array.isArray(input)) return fail(path, 'must be an array');
      const out: CedarValue[] = [];
      input.forEach((v, i) => {
        const c = toCedarInput(v, type.of, `${path}.${i}`);
        if (c !== undefined) out.push(c);
      });
      return out;
    }
    case 'record': {
      if (!isObject(input)) return fail(path, 'must be an object');
      const out: Record<string, CedarValue> = {};
      for (const [k, v] of Object.entries(input)) {
        const attr = type.attrs.get(cedarKey(k));
        if (!attr) continue;
        const c = toCedarInput(v, attr.type, `${path}.${k}`);
        if (c !== undefined) out[cedarKey(k)] = c;
      }
      // A required argument that is null (or absent) would make the checked type a lie: refuse rather than error later.
      for (const [k, a] of type.attrs) {
        if (a.required && !(k in out)) fail(`${path}.${k}`, 'is required');
      }
      return out;
    }
  }
}
