import type { AuditLog } from '../audit/audit-log.js';
import type { EventBus } from '../events/event-bus.js';
import type { AgentRegistry } from '../identity/agents.js';
import type { Db } from '../store/db.js';
import { ResourceLeases } from './resource-leases.js';
import { RunContextStore } from './run-context.js';
import { RunMessages } from './run-messages.js';

/** What coordination is built from. */
export interface CoordinationOptions {
  db: Db;
  audit: AuditLog;
  agents: AgentRegistry;
  events?: EventBus;
}

/**
 * Coordination between the agents and humans of a run: the shared run context (blackboard), messages between
 * agents, and resource leases for conflicting work. Escalation lives in the workflow engine (a step event).
 */
export class Coordination {
  readonly context: RunContextStore;
  readonly messages: RunMessages;
  readonly leases: ResourceLeases;

  constructor(o: CoordinationOptions) {
    this.context = new RunContextStore(o.db, o.audit, o.events);
    this.messages = new RunMessages(o.db, o.audit, o.agents, o.events);
    this.leases = new ResourceLeases(o.db);
  }
}
