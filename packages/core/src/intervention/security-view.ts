import type { Agent, AgentRegistry } from '../identity/agents.js';
import { SECURITY_EPOCH_MAX_AGE_MS, readSecurityEpoch } from '../identity/authenticate.js';
import type { Db } from '../store/db.js';
import type { KillSwitch, KillSwitches } from './kill-switches.js';

/** What a node's security views read from: agents and kill switches, on every node the same store. */
export interface SecurityViewsDeps {
  db: Db;
  agents: AgentRegistry;
  killSwitches?: KillSwitches | undefined;
}

/** Most agents and roles one view remembers; past this it starts over. */
const VIEW_SIZE = 10_000;

/**
 * What was read under one security epoch: agents by id, the agents of each role, the engaged kill switches. Filled
 * lazily, dropped as a whole when the epoch moves.
 */
export interface SecurityView {
  readonly epoch: number;
  readonly at: number;
  readonly agents: Map<string, Promise<Agent | undefined>>;
  readonly roles: Map<string, Promise<Agent[]>>;
  switches?: Promise<KillSwitch[]>;
  /** The roles that have an agent not revoked. */
  roleNames?: Promise<Set<string>>;
}

/**
 * A node's memory of agents and kill switches, kept while the store's security epoch is unchanged. The database
 * bumps the epoch itself on every change to an agent (created, paused, resumed, revoked, re-tiered), a human, a
 * token and a kill switch, whichever node made it (migrations 13 and 15), so a view of epoch `n` holds what the
 * store held at `n`.
 *
 * Views are only ever filled by reads outside transactions, which see committed rows: the epoch is read first, the
 * rows after it (a change committed in between moves the epoch, so the next check reads again). A transaction may
 * see an epoch that is not committed (another member of its batch bumped it); it can only ask for the view of an
 * epoch ({@link held}), never make one, so what a batch rolls back never reaches a view. A view is at most
 * {@link SECURITY_EPOCH_MAX_AGE_MS} old.
 *
 * Shared on a node by the server's authentication (which reads the epoch on every request), the workflow
 * intervention gate, the workflow engine's start checks (roles and `as` agents) and the pipeline's guards (which
 * read the epoch with each decision: inside its transaction, or outside one for a decision written alone).
 */
export class SecurityViews {
  private view: SecurityView | undefined;

  constructor(private readonly d: SecurityViewsDeps) {}

  /** The view of the epoch committed now: the last one while the epoch and its age allow, else a new one. */
  async current(): Promise<SecurityView> {
    return this.of(await readSecurityEpoch(this.d.db));
  }

  /**
   * The view of `epoch`, which the caller has just read outside any transaction (so it is committed), e.g. with
   * other queries in one round trip: what {@link current} answers after its own read.
   */
  of(epoch: number): SecurityView {
    const now = Date.now();
    const v = this.view;
    if (v && v.epoch === epoch && now - v.at < SECURITY_EPOCH_MAX_AGE_MS) return v;
    const fresh: SecurityView = { epoch, at: now, agents: new Map(), roles: new Map() };
    // An epoch older than the view's (a read that raced a newer one) gets a view of its own, not kept.
    if (!v || epoch >= v.epoch) this.view = fresh;
    return fresh;
  }

  /** The current epoch, read as {@link current} reads it (so the view of it is held afterwards). */
  async epoch(): Promise<number> {
    return (await this.current()).epoch;
  }

  /** The view of `epoch` if this node holds one young enough; never reads and never makes one. */
  held(epoch: number): SecurityView | undefined {
    const v = this.view;
    return v && v.epoch === epoch && Date.now() - v.at < SECURITY_EPOCH_MAX_AGE_MS ? v : undefined;
  }

  /** The agent in view `v` (undefined when unknown), read the first time it is asked for. */
  agent(v: SecurityView, id: string): Promise<Agent | undefined> {
    return this.remembered(v, v.agents, id, () => this.d.agents.get(id));
  }

  /** The agents of a role in view `v`, sorted by id, read the first time it is asked for. */
  role(v: SecurityView, role: string): Promise<Agent[]> {
    return this.remembered(v, v.roles, role, async () =>
      (await this.d.agents.list({ role })).sort((a, b) => a.id.localeCompare(b.id)),
    );
  }

  /** The roles with at least one agent that is not revoked, in view `v`. */
  roleNames(v: SecurityView): Promise<Set<string>> {
    if (!v.roleNames) {
      const p = this.d.agents.roles();
      v.roleNames = p;
      p.catch(() => {
        if (v.roleNames === p) delete v.roleNames;
      });
    }
    return v.roleNames;
  }

  /** The engaged kill switches in view `v` (none without a switch registry). */
  switches(v: SecurityView): Promise<KillSwitch[]> {
    if (!this.d.killSwitches) return Promise.resolve([]);
    if (!v.switches) {
      const p = this.d.killSwitches.engaged(this.d.db);
      v.switches = p;
      p.catch(() => {
        if (v.switches === p) delete v.switches;
      });
    }
    return v.switches;
  }

  /** `key`'s entry of `map` in view `v`, read with `load` the first time (a failed read is not kept). */
  private remembered<T>(
    v: SecurityView,
    map: Map<string, Promise<T>>,
    key: string,
    load: () => Promise<T>,
  ): Promise<T> {
    const hit = map.get(key);
    if (hit) return hit;
    if (v.agents.size + v.roles.size >= VIEW_SIZE) {
      v.agents.clear();
      v.roles.clear();
    }
    const p = load();
    map.set(key, p);
    p.catch(() => map.delete(key));
    return p;
  }
}
