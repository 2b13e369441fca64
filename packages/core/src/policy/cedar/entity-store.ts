import { UserError } from '../../errors.js';
import { canonicalJson } from '../../crypto/canonical-json.js';
import { decodeUid, decodeValue, RecordValue, type EntityValue, type Value } from './values.js';
import type { CedarEntity } from './types.js';

interface StoredEntity {
  uid: EntityValue;
  attrs: RecordValue;
  tags: Map<string, Value>;
  parents: EntityValue[];
  source: CedarEntity;
}

/**
 * The entities of one request, indexed for attribute lookup and `in` checks. Build it once with
 * {@link createCedarEntityStore} to reuse it across several requests over the same entities.
 */
export class CedarEntityStore {
  private readonly byKey = new Map<string, StoredEntity>();
  private readonly ancestorCache = new Map<string, Set<string>>();

  constructor(entities: readonly CedarEntity[]) {
    entities.forEach((e, i) => {
      const field = `entities[${i}]`;
      const uid = decodeUid(e.uid, `${field}.uid`);
      const existing = this.byKey.get(uid.key);
      if (existing) {
        // cedar accepts a repeated entity only when it is identical.
        if (canonicalJson(existing.source) !== canonicalJson(e))
          throw new UserError(`duplicate entity ${uid.key} with different data`, { field });
        return;
      }
      const attrs = new Map<string, Value>();
      for (const [k, v] of Object.entries(e.attrs ?? {})) attrs.set(k, decodeValue(v, `${field}.attrs.${k}`));
      const tags = new Map<string, Value>();
      for (const [k, v] of Object.entries(e.tags ?? {})) tags.set(k, decodeValue(v, `${field}.tags.${k}`));
      const parents = (e.parents ?? []).map((p, j) => decodeUid(p, `${field}.parents[${j}]`));
      this.byKey.set(uid.key, { uid, attrs: new RecordValue(attrs), tags, parents, source: e });
    });
    // cedar refuses hierarchies with cycles (including an entity that is its own parent).
    for (const key of this.byKey.keys()) {
      if (this.ancestors(key).has(key)) throw new UserError(`entity hierarchy has a cycle containing ${key}`);
    }
  }

  /** The attributes of an entity, or undefined when the entity is not in the store. */
  attrs(e: EntityValue): RecordValue | undefined {
    return this.byKey.get(e.key)?.attrs;
  }

  /** The tags of an entity, or undefined when the entity is not in the store. */
  tags(e: EntityValue): Map<string, Value> | undefined {
    return this.byKey.get(e.key)?.tags;
  }

  /** Cedar `in` for one entity: equal, or an ancestor through parents (transitively). */
  isIn(e: EntityValue, ancestorKey: string): boolean {
    return e.key === ancestorKey || this.ancestors(e.key).has(ancestorKey);
  }

  /** The keys of every ancestor of an entity (through parents, transitively); empty for an unknown entity. */
  ancestorKeys(key: string): ReadonlySet<string> {
    return this.ancestors(key);
  }

  private ancestors(key: string): Set<string> {
    const cached = this.ancestorCache.get(key);
    if (cached) return cached;
    const out = new Set<string>();
    const stack = [key];
    while (stack.length > 0) {
      const cur = this.byKey.get(stack.pop() as string);
      if (!cur) continue;
      for (const p of cur.parents) {
        if (!out.has(p.key)) {
          out.add(p.key);
          stack.push(p.key);
        }
      }
    }
    this.ancestorCache.set(key, out);
    return out;
  }
}

/** Indexes entities once for several {@link isAuthorized} calls. Throws `UserError` on malformed entities. */
export function createCedarEntityStore(entities: readonly CedarEntity[]): CedarEntityStore {
  return new CedarEntityStore(entities);
}
