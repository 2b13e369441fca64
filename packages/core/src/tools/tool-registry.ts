import { Ajv } from 'ajv';
import type { ErrorObject, ValidateFunction } from 'ajv';
import type { AuditLog } from '../audit/audit-log.js';
import type { ToolConfig } from '../config/config.js';
import {
  CircuitBreaker,
  INVALID_OPENAPI_DOCUMENT,
  definitionHash,
  metadataFromAnnotations,
} from '../connectors/index.js';
import type {
  CallToolOptions,
  Connector,
  ToolDefinition,
  ToolMetadata,
  ToolResult,
} from '../connectors/index.js';
import { ConflictError, NotFoundError, UserError } from '../errors.js';
import { inputRecordType, toCedarInput } from '../policy/input-types.js';
import type { Db, Executor } from '../store/db.js';

/** A tool as the pipeline sees it: namespaced name, pinned definition, governance metadata. */
export interface RegisteredTool {
  /** `<connector>.<upstream name>`, unique across connectors. */
  name: string;
  connector: string;
  upstreamName: string;
  /** The approved (pinned) definition. */
  definition: ToolDefinition;
  definitionHash: string;
  metadata: ToolMetadata;
  /** Budget cost units per call. */
  cost: number;
  cacheTtlSec: number;
  /** The argument that names what a call touches, for the `new_resource` anomaly. */
  resource?: string | undefined;
  reversal?: { tool: string; input: string } | undefined;
  status: 'active' | 'quarantined' | 'removed';
}

/** A connector with its per-call timeout and circuit breaker. */
export interface ConnectorEntry {
  connector: Connector;
  timeoutMs: number;
  breaker: CircuitBreaker;
}

interface Row {
  name: string;
  connector: string;
  upstream_name: string;
  definition_json: string;
  definition_hash: string;
  approved_hash: string;
  pending_json: string | null;
  settings_json: string;
  status: 'active' | 'quarantined' | 'removed';
}

function describeAjvError(e: ErrorObject): { field: string; message: string } {
  const base = e.instancePath.split('/').filter(Boolean).join('.');
  if (e.keyword === 'required') {
    const missing = (e.params as { missingProperty: string }).missingProperty;
    return { field: ['input', base, missing].filter(Boolean).join('.'), message: 'is required' };
  }
  if (e.keyword === 'additionalProperties') {
    const extra = (e.params as { additionalProperty: string }).additionalProperty;
    return {
      field: ['input', base, extra].filter(Boolean).join('.'),
      message: "is not allowed by the tool's schema",
    };
  }
  return { field: ['input', base].filter(Boolean).join('.'), message: e.message ?? 'is invalid' };
}

/** A tool's governance metadata: its MCP annotations as defaults, overridden by its `tools:` settings in aos.yaml. */
export function toolMetadataFor(
  definition: ToolDefinition,
  cfg: Partial<ToolConfig> | undefined,
): ToolMetadata {
  const override: Partial<ToolMetadata> = {};
  if (cfg?.effect) override.effect = cfg.effect;
  if (cfg?.destructive !== undefined) override.destructive = cfg.destructive;
  if (cfg?.idempotent !== undefined) override.idempotent = cfg.idempotent;
  if (cfg?.untrustedOutput !== undefined) override.untrustedOutput = cfg.untrustedOutput;
  if (cfg?.risk) override.risk = cfg.risk;
  return metadataFromAnnotations(definition.annotations, override);
}

/**
 * Tools from every connector, pinned by definition hash. The first definition seen is pinned (trust on first use,
 * audited); a later, different definition quarantines the tool until an admin approves it. Inputs are validated
 * against the pinned JSON Schema, never a newer one.
 */
export class ToolRegistry {
  private readonly ajv = new Ajv({ allErrors: false, strict: false });
  private readonly tools = new Map<string, RegisteredTool>();
  private readonly validators = new Map<string, { hash: string; fn: ValidateFunction }>();

  constructor(
    private readonly db: Db,
    private readonly audit: AuditLog,
    private readonly connectors: ReadonlyMap<string, ConnectorEntry>,
    private readonly toolConfig: Readonly<Record<string, ToolConfig>>,
  ) {}

  /** Builds connector entries with breakers from connectors and their settings. */
  static entries(
    list: {
      connector: Connector;
      timeoutMs: number;
      breaker?: { failureThreshold: number; coolDownMs: number } | undefined;
    }[],
  ): Map<string, ConnectorEntry> {
    return new Map(
      list.map((c) => [
        c.connector.id,
        {
          connector: c.connector,
          timeoutMs: c.timeoutMs,
          breaker: new CircuitBreaker({ name: c.connector.id, ...(c.breaker ?? {}) }),
        },
      ]),
    );
  }

  private toTool(row: Row): RegisteredTool {
    const definition = JSON.parse(row.definition_json) as ToolDefinition;
    // This node's configuration wins; without one (the CLI), the settings the serving nodes recorded.
    const cfg = this.toolConfig[row.name] ?? (JSON.parse(row.settings_json || '{}') as Partial<ToolConfig>);
    return {
      name: row.name,
      connector: row.connector,
      upstreamName: row.upstream_name,
      definition,
      definitionHash: row.approved_hash,
      metadata: toolMetadataFor(definition, cfg),
      cost: cfg?.cost ?? 1,
      cacheTtlSec: cfg?.cacheTtlSec ?? 0,
      resource: cfg?.resource,
      reversal: cfg?.reversal,
      status: row.status,
    };
  }

  /**
   * Lists every connector's tools and reconciles them with the pinned ones: new tools are pinned, changed ones
   * quarantined. Answers what changed. A connector that cannot be reached keeps its pinned tools (calls will fail).
   */
  async sync(
    actor = 'system',
  ): Promise<{ registered: string[]; quarantined: string[]; unreachable: string[] }> {
    const registered: string[] = [];
    const quarantined: string[] = [];
    const unreachable: string[] = [];
    for (const [id, entry] of this.connectors) {
      let defs: ToolDefinition[];
      try {
        defs = await entry.connector.listTools();
      } catch (err) {
        // A document that cannot become tools is a configuration error to show, not an outage to ride out.
        if (err instanceof UserError && err.code === INVALID_OPENAPI_DOCUMENT) throw err;
        unreachable.push(id);
        continue;
      }
      for (const def of defs) {
        const name = `${id}.${def.name}`;
        const hash = definitionHash(def);
        const settings = JSON.stringify(this.toolConfig[name] ?? {});
        await this.db.tx(async (tx) => {
          const row = await tx.get<Row>(`SELECT * FROM tools WHERE name = ?${this.db.forUpdate}`, [name]);
          const now = new Date().toISOString();
          if (!row) {
            await tx.run(
              `INSERT INTO tools (name, connector, upstream_name, definition_json, definition_hash, approved_hash, pending_json, settings_json, status, updated_at)
               VALUES (?, ?, ?, ?, ?, ?, NULL, ?, 'active', ?)`,
              [name, id, def.name, JSON.stringify(def), hash, hash, settings, now],
            );
            await this.audit.append(tx, {
              actor,
              type: 'tool.registered',
              subject: `tool:${name}`,
              payload: { tool: name, definitionHash: hash },
            });
            registered.push(name);
          } else if (
            row.approved_hash !== hash &&
            (row.status !== 'quarantined' || row.definition_hash !== hash)
          ) {
            await tx.run(
              `UPDATE tools SET status = 'quarantined', pending_json = ?, definition_hash = ?, updated_at = ? WHERE name = ?`,
              [JSON.stringify(def), hash, now, name],
            );
            await this.audit.append(tx, {
              actor,
              type: 'tool.quarantined',
              subject: `tool:${name}`,
              payload: { tool: name, pinnedHash: row.approved_hash, upstreamHash: hash },
            });
            quarantined.push(name);
          }
          if (row && row.settings_json !== settings) {
            await tx.run('UPDATE tools SET settings_json = ? WHERE name = ?', [settings, name]);
          }
        });
      }
    }
    await this.reload();
    return { registered, quarantined, unreachable };
  }

  /** Reloads pinned tools from the store. */
  async reload(): Promise<void> {
    const rows = await this.db.all<Row>('SELECT * FROM tools ORDER BY name');
    this.tools.clear();
    for (const row of rows) this.tools.set(row.name, this.toTool(row));
  }

  /** Approves a quarantined tool's new definition: it becomes the pinned one. */
  async approveDefinition(name: string, actor: string): Promise<RegisteredTool> {
    const tool = await this.db.tx(async (tx) => {
      const row = await tx.get<Row>(`SELECT * FROM tools WHERE name = ?${this.db.forUpdate}`, [name]);
      if (!row) throw new NotFoundError('tool', name, 'tool');
      if (row.status !== 'quarantined' || !row.pending_json) {
        throw new ConflictError(`tool '${name}' is not quarantined`, { field: 'tool' });
      }
      await tx.run(
        `UPDATE tools SET definition_json = pending_json, approved_hash = definition_hash, pending_json = NULL, status = 'active', updated_at = ? WHERE name = ?`,
        [new Date().toISOString(), name],
      );
      await this.audit.append(tx, {
        actor,
        type: 'tool.approved',
        subject: `tool:${name}`,
        payload: { tool: name, previousHash: row.approved_hash, approvedHash: row.definition_hash },
      });
      return this.toTool({
        ...row,
        definition_json: row.pending_json,
        approved_hash: row.definition_hash,
        status: 'active',
      });
    });
    this.tools.set(name, tool);
    return tool;
  }

  /** A tool by name (from the last sync or reload). */
  get(name: string): RegisteredTool | undefined {
    return this.tools.get(name);
  }

  /** Every known tool. */
  list(): RegisteredTool[] {
    return [...this.tools.values()];
  }

  /** The tool's status as stored now (another node may have quarantined or approved it). */
  async currentStatus(
    tx: Executor,
    name: string,
  ): Promise<{ status: RegisteredTool['status']; approvedHash: string } | undefined> {
    const row = await tx.get<{ status: RegisteredTool['status']; approved_hash: string }>(
      'SELECT status, approved_hash FROM tools WHERE name = ?',
      [name],
    );
    return row ? { status: row.status, approvedHash: row.approved_hash } : undefined;
  }

  /**
   * Checks input against the pinned input schema, and that policies can see it exactly as given (see
   * `toCedarInput`); the first problem is a UserError naming `input.<path>`.
   */
  validateInput(tool: RegisteredTool, input: unknown): void {
    let v = this.validators.get(tool.name);
    if (!v || v.hash !== tool.definitionHash) {
      let fn: ValidateFunction;
      try {
        fn = this.ajv.compile(tool.definition.inputSchema ?? { type: 'object' });
      } catch {
        throw new UserError(`tool '${tool.name}' has an input schema that cannot be compiled`, {
          field: 'tool',
        });
      }
      v = { hash: tool.definitionHash, fn };
      this.validators.set(tool.name, v);
    }
    if (!v.fn(input)) {
      const { field, message } = describeAjvError((v.fn.errors ?? [])[0] as ErrorObject);
      throw new UserError(message, { field });
    }
    // Input the schema accepts but policies could not compare exactly (a `number` with five decimal places) is bad
    // input too, refused naming the argument rather than decided by approximation.
    toCedarInput(input, inputRecordType(tool.definition.inputSchema));
  }

  /** Calls the tool upstream through its connector's breaker and timeout, passing on `options.trace`. */
  async call(
    tool: RegisteredTool,
    input: Record<string, unknown>,
    options: Pick<CallToolOptions, 'trace'> = {},
  ): Promise<ToolResult> {
    const entry = this.connectors.get(tool.connector);
    if (!entry) throw new NotFoundError('connector', tool.connector, 'connector');
    return entry.breaker.execute(() =>
      entry.connector.callTool(tool.upstreamName, input, { timeoutMs: entry.timeoutMs, ...options }),
    );
  }

  /**
   * The circuit breaker of a tool's connector on this node (breakers are per node): its state and, while open,
   * when it lets a trial call through. Undefined for a tool of no known connector.
   */
  breakerState(
    toolName: string,
  ): { connector: string; state: 'closed' | 'open' | 'half_open'; retryAtMs?: number } | undefined {
    const connector = this.tools.get(toolName)?.connector ?? toolName.split('.')[0] ?? '';
    const entry = this.connectors.get(connector);
    if (!entry) return undefined;
    const until = entry.breaker.openUntil;
    return { connector, state: entry.breaker.state, ...(until !== undefined ? { retryAtMs: until } : {}) };
  }

  /** Closes every connector. */
  async close(): Promise<void> {
    await Promise.allSettled([...this.connectors.values()].map((e) => e.connector.close()));
  }
}
