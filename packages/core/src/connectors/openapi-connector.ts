import { NotFoundError } from '../errors.js';
import type { SecretStore } from '../secrets/secret-store.js';
import { HttpConnector } from './http-connector.js';
import { OpenApiCredentials } from './openapi-auth.js';
import type { OpenApiAuthConfig } from './openapi-auth.js';
import { loadOpenApiDocument } from './openapi-document.js';
import type { OpenApiSource } from './openapi-document.js';
import { buildOperations } from './openapi-operations.js';
import type { OpenApiOperationOverride, OpenApiSelection, SecuritySchemeUse } from './openapi-operations.js';
import type { CallToolOptions, Connector, ToolAnnotations, ToolDefinition, ToolResult } from './types.js';
import { UpstreamPool } from './upstream-pool.js';

/** Configuration of an {@link OpenApiConnector} (the `type: openapi` entry of aos.yaml). */
export interface OpenApiConnectorConfig extends OpenApiSource {
  /** The connector id; tools are named `<id>.<operationId>`. */
  id: string;
  /** Replaces the document's servers as the base of every operation URL. */
  baseUrl?: string;
  /** Only these operations become tools (by tag or operationId); default all. */
  include?: OpenApiSelection;
  /** Credentials per security scheme name of the document. */
  auth?: Record<string, OpenApiAuthConfig>;
  /** Annotations for every operation, over the method's defaults. */
  annotations?: ToolAnnotations;
  /** Per-operation settings by operationId, over everything else. */
  operations?: Record<string, OpenApiOperationOverride>;
}

/** Runtime collaborators of an {@link OpenApiConnector}. */
export interface OpenApiConnectorOptions {
  /** Where credentials of the security schemes come from. */
  secrets?: SecretStore;
  /** Per-call timeout (and the document fetch's); default 30 000 ms. */
  timeoutMs?: number;
}

interface Loaded {
  definitions: ToolDefinition[];
  http: HttpConnector;
}

/**
 * A connector whose tools are the operations of an OpenAPI 3.0/3.1 document. The document is read (and
 * re-read at every `listTools`, that is at every tool sync) from its URL or file; calls go through an
 * {@link HttpConnector} built from it, so they share its timeout, redirect refusal, response limit and secret
 * redaction. Each definition carries its HTTP binding, so the tool registry's pinning quarantines exactly the
 * operations whose meaning or binding changed.
 *
 * @example
 * const erp = new OpenApiConnector(
 *   { id: 'erp', url: 'http://127.0.0.1:7441/openapi.json', auth: { apiKey: { secret: 'erp-key' } } },
 *   { secrets },
 * );
 * await erp.listTools(); // [{ name: 'refund', … }, …]
 */
export class OpenApiConnector implements Connector {
  readonly id: string;
  readonly #config: OpenApiConnectorConfig;
  readonly #options: OpenApiConnectorOptions;
  #loaded: Loaded | undefined;
  #loading: Promise<Loaded> | undefined;
  // One pool for every re-read of the document: a new operation set keeps the warm connections.
  readonly #pool = new UpstreamPool();

  constructor(config: OpenApiConnectorConfig, options: OpenApiConnectorOptions = {}) {
    this.id = config.id;
    this.#config = config;
    this.#options = options;
  }

  /** Reads the document now and answers its operations as tools. */
  async listTools(): Promise<ToolDefinition[]> {
    return (await this.#load()).definitions;
  }

  async callTool(
    name: string,
    input: Record<string, unknown>,
    options: CallToolOptions = {},
  ): Promise<ToolResult> {
    const loaded = this.#loaded ?? (await this.#load());
    if (!loaded.definitions.some((d) => d.name === name))
      throw new NotFoundError('tool', `${this.id}.${name}`);
    return loaded.http.callTool(name, input, options);
  }

  /** Ends the keep-alive connections every version of the document's operations shared. */
  close(): Promise<void> {
    return this.#pool.close();
  }

  #load(): Promise<Loaded> {
    // Concurrent syncs share one read of the document.
    this.#loading ??= this.#read().finally(() => {
      this.#loading = undefined;
    });
    return this.#loading;
  }

  async #read(): Promise<Loaded> {
    const c = this.#config;
    const timeoutMs = this.#options.timeoutMs ?? 30_000;
    const doc = await loadOpenApiDocument(
      { ...(c.url !== undefined ? { url: c.url } : {}), ...(c.file !== undefined ? { file: c.file } : {}) },
      { connectorId: c.id, timeoutMs },
    );
    const auth = c.auth ?? {};
    const built = buildOperations(doc, {
      connectorId: c.id,
      configuredSchemes: new Set(Object.keys(auth)),
      ...(c.baseUrl !== undefined ? { baseUrl: c.baseUrl } : {}),
      ...(c.include !== undefined ? { include: c.include } : {}),
      ...(c.annotations !== undefined ? { annotations: c.annotations } : {}),
      ...(c.operations !== undefined ? { operations: c.operations } : {}),
    });
    const credentials = new OpenApiCredentials({
      connectorId: c.id,
      auth,
      secrets: this.#options.secrets,
      location: doc.location,
      timeoutMs,
    });
    const security = new Map<string, SecuritySchemeUse[]>();
    for (const b of built) {
      credentials.check(b.security);
      security.set(b.http.name, b.security);
    }
    const http = new HttpConnector(
      { id: c.id, operations: built.map((b) => b.http) },
      {
        timeoutMs,
        pool: this.#pool,
        credentials: (operation) => credentials.for(security.get(operation.name) ?? []),
        ...(this.#options.secrets ? { secrets: this.#options.secrets } : {}),
      },
    );
    this.#loaded = { definitions: built.map((b) => b.definition), http };
    return this.#loaded;
  }
}
