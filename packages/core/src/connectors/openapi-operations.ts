import type { HttpMethod, HttpOperation } from './http-connector.js';
import { documentError } from './openapi-document.js';
import type { OpenApiDocument } from './openapi-document.js';
import type { ToolAnnotations, ToolDefinition } from './types.js';

/** Per-operation settings of an OpenAPI connector, keyed by operationId; they win over the document and the method. */
export interface OpenApiOperationOverride {
  description?: string;
  effect?: 'read' | 'write';
  annotations?: ToolAnnotations;
}

/** Which operations become tools: those with any of the tags or operationIds (all when neither is given). */
export interface OpenApiSelection {
  tags?: string[];
  operationIds?: string[];
}

/** How to turn a document's operations into tools. */
export interface OperationBuildOptions {
  connectorId: string;
  /** Replaces the document's `servers` (required for a document read from a file that has only relative ones). */
  baseUrl?: string;
  include?: OpenApiSelection;
  /** Annotations for every operation (for example `openWorldHint: false` for an internal system). */
  annotations?: ToolAnnotations;
  operations?: Record<string, OpenApiOperationOverride>;
  /** Security schemes that have credentials configured. */
  configuredSchemes: ReadonlySet<string>;
}

/** One security scheme an operation authenticates with, as the document declares it. */
export interface SecuritySchemeUse {
  name: string;
  scheme: Record<string, unknown>;
}

/** An operation as a tool: its definition (pinned, binding included) and the HTTP operation that calls it. */
export interface BuiltOperation {
  definition: ToolDefinition;
  http: HttpOperation;
  /** The schemes of the security requirement chosen for the call (empty: anonymous). */
  security: SecuritySchemeUse[];
}

const METHODS = ['get', 'put', 'post', 'delete', 'patch', 'head'] as const;
const FIELD = /^[A-Za-z_][A-Za-z0-9_]*$/;

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/** A tool name from an operationId: letters, digits, `_` and `-` only, at most 64 characters. */
export function toolNameFor(operationId: string): string {
  return operationId.replace(/[^A-Za-z0-9_-]+/g, '_').slice(0, 64) || '_';
}

/**
 * The document's operations as tools. `inputSchema` joins the path, query and header parameters with the JSON request
 * body (its properties flattened in when it is an object whose names do not clash, else under `body`); the method
 * gives the defaults of the annotations (GET/HEAD read-only and idempotent, PUT/DELETE idempotent, DELETE
 * destructive, POST/PATCH non-idempotent writes), which the connector's and the operation's settings override.
 *
 * The definition's `binding` (method, the document's server and path, where each input goes, security schemes) is
 * pinned with it, so a document that moves an operation to another path, host or credential quarantines that tool.
 */
export function buildOperations(doc: OpenApiDocument, o: OperationBuildOptions): BuiltOperation[] {
  const id = o.connectorId;
  const paths = doc.document.paths;
  if (paths !== undefined && !isObj(paths)) throw documentError(id, 'must be an object', 'paths');
  const built: BuiltOperation[] = [];
  const names = new Map<string, string>();
  const seenIds = new Set<string>();
  for (const [route, item] of Object.entries(paths ?? {})) {
    if (!isObj(item)) throw documentError(id, 'must be an object', `paths.${route}`);
    for (const method of METHODS) {
      const op = item[method];
      if (op === undefined) continue;
      const at = `paths.${route}.${method}`;
      if (!isObj(op)) throw documentError(id, 'must be an object', at);
      const operationId = typeof op.operationId === 'string' ? op.operationId : `${method}${route}`;
      if (!selected(op, operationId, o.include)) continue;
      if (seenIds.has(operationId)) throw documentError(id, `duplicate operationId '${operationId}'`, at);
      seenIds.add(operationId);
      const name = toolNameFor(operationId);
      const clash = names.get(name);
      if (clash !== undefined) {
        throw documentError(id, `becomes tool ${id}.${name}, as does ${clash}`, `${at}.operationId`);
      }
      names.set(name, at);
      built.push(buildOne({ doc, o, route, item, method, op, operationId, name, at }));
    }
  }
  for (const wanted of o.include?.operationIds ?? []) {
    if (!seenIds.has(wanted)) {
      throw documentError(id, `has no operation '${wanted}' (named in include.operationIds)`, 'paths');
    }
  }
  for (const key of Object.keys(o.operations ?? {})) {
    if (!seenIds.has(key)) {
      throw documentError(id, `has no selected operation '${key}' (named in operations)`, 'paths');
    }
  }
  return built;
}

function selected(op: Obj, operationId: string, include: OpenApiSelection | undefined): boolean {
  if (!include || (include.tags === undefined && include.operationIds === undefined)) return true;
  const tags = Array.isArray(op.tags) ? op.tags : [];
  return (
    (include.operationIds ?? []).includes(operationId) || (include.tags ?? []).some((t) => tags.includes(t))
  );
}

interface BuildOneParams {
  doc: OpenApiDocument;
  o: OperationBuildOptions;
  route: string;
  item: Obj;
  method: (typeof METHODS)[number];
  op: Obj;
  operationId: string;
  name: string;
  at: string;
}

function buildOne(p: BuildOneParams): BuiltOperation {
  const { o, op, at } = p;
  const id = o.connectorId;
  const properties: Obj = {};
  const required: string[] = [];
  const query: string[] = [];
  const headerParams: Record<string, string> = {};
  const pathParams = new Set<string>();
  for (const [index, param] of mergedParameters(p.item, op).entries()) {
    const where = `${at}.parameters[${index}]`;
    if (!isObj(param) || typeof param.name !== 'string' || typeof param.in !== 'string') {
      throw documentError(id, 'must be a parameter with a name and an in', where);
    }
    const { name } = param;
    if (param.in === 'cookie') {
      if (param.required === true) throw documentError(id, 'cookie parameters are not supported', where);
      continue;
    }
    if (!['path', 'query', 'header'].includes(param.in)) {
      throw documentError(id, 'in must be path, query, header or cookie', `${where}.in`);
    }
    if (properties[name] !== undefined) {
      throw documentError(id, `parameter '${name}' is declared twice (in different places)`, where);
    }
    if (param.in === 'path') {
      if (!FIELD.test(name)) {
        throw documentError(id, 'a path parameter name must be letters, digits and _', `${where}.name`);
      }
      if (!p.route.includes(`{${name}}`)) {
        throw documentError(id, `path parameter '${name}' is not in the path ${p.route}`, where);
      }
      pathParams.add(name);
    } else if (param.in === 'query') {
      query.push(name);
    } else {
      headerParams[name] = name;
    }
    const schema = isObj(param.schema) ? { ...param.schema } : {};
    if (typeof param.description === 'string' && schema.description === undefined) {
      schema.description = param.description;
    }
    properties[name] = schema;
    if (param.in === 'path' || param.required === true) required.push(name);
  }
  for (const match of p.route.matchAll(/\{([^}]*)\}/g)) {
    if (!pathParams.has(match[1] ?? '')) {
      throw documentError(id, `path parameter '${match[1] ?? ''}' is not declared`, `${at}.parameters`);
    }
  }
  const body = requestBody(id, op, at);
  let bodyMode: 'input' | 'field' | 'none' = 'none';
  let additionalProperties: unknown = false;
  if (body) {
    const props = isObj(body.schema.properties) ? body.schema.properties : undefined;
    const flat =
      (body.schema.type === 'object' || props !== undefined) &&
      !['oneOf', 'anyOf', 'allOf', 'not', 'if'].some((k) => k in body.schema) &&
      !Object.keys(props ?? {}).some((k) => k in properties);
    if (flat) {
      bodyMode = 'input';
      Object.assign(properties, props ?? {});
      if (body.required && Array.isArray(body.schema.required)) required.push(...body.schema.required);
      additionalProperties = body.schema.additionalProperties ?? true;
    } else {
      if ('body' in properties) {
        throw documentError(id, "a parameter named 'body' clashes with the request body", at);
      }
      bodyMode = 'field';
      properties.body = body.schema;
      if (body.required) required.push('body');
    }
  }
  const inputSchema: Obj = { type: 'object', properties, additionalProperties };
  if (required.length > 0) inputSchema.required = [...new Set(required)];
  if (JSON.stringify(inputSchema).includes('"$ref"')) {
    throw documentError(id, 'has a circular $ref in its parameters or request body; deselect it', at);
  }
  const server = serverOf(p);
  const url = `${server.url}${p.route}`;
  const security = chooseSecurity(p);
  const override = o.operations?.[p.operationId] ?? {};
  const annotations: ToolAnnotations = {
    ...methodAnnotations(p.method),
    ...o.annotations,
    ...override.annotations,
  };
  if (override.effect !== undefined) annotations.readOnlyHint = override.effect === 'read';
  const description =
    override.description ??
    (typeof op.summary === 'string'
      ? op.summary
      : typeof op.description === 'string'
        ? op.description
        : undefined);
  const method = p.method.toUpperCase() as HttpMethod;
  const http: HttpOperation = {
    name: p.name,
    method,
    url,
    inputSchema,
    annotations,
    ...(query.length ? { query } : {}),
    ...(Object.keys(headerParams).length ? { headerParams } : {}),
    ...(bodyMode === 'input' ? { body: 'input' as const } : {}),
    ...(bodyMode === 'field' ? { bodyField: 'body' } : {}),
    ...(bodyMode === 'none' && ['POST', 'PUT', 'PATCH'].includes(method) ? { body: {} } : {}),
  };
  if (description !== undefined) http.description = description;
  const definition: ToolDefinition = {
    name: p.name,
    inputSchema,
    annotations,
    binding: {
      openapi: p.operationId,
      method,
      // The server as the document gives it: a relative one follows the configured document URL, and a configured
      // baseUrl is the operator's own choice, so neither quarantines tools when the upstream moves port.
      server: server.pinned,
      path: p.route,
      query,
      headers: headerParams,
      body: bodyMode,
      security: security.map((s) => ({ name: s.name, ...s.scheme })),
    },
  };
  if (description !== undefined) definition.description = description;
  return { definition, http, security };
}

/** Path-item parameters, with the operation's own replacing those of the same name and location. */
function mergedParameters(item: Obj, op: Obj): unknown[] {
  const own = Array.isArray(op.parameters) ? op.parameters : [];
  const shared = Array.isArray(item.parameters) ? item.parameters : [];
  const key = (x: unknown) => (isObj(x) ? `${String(x.in)}:${String(x.name)}` : '');
  const ownKeys = new Set(own.map(key));
  return [...shared.filter((x) => !ownKeys.has(key(x))), ...own];
}

function requestBody(id: string, op: Obj, at: string): { schema: Obj; required: boolean } | undefined {
  const body = op.requestBody;
  if (body === undefined) return undefined;
  if (!isObj(body) || !isObj(body.content)) {
    throw documentError(id, 'must have a content map', `${at}.requestBody`);
  }
  const type = Object.keys(body.content).find((t) => /^application\/([\w.+-]+\+)?json\b/i.test(t));
  if (type === undefined) {
    if (body.required === true) {
      throw documentError(id, 'only JSON request bodies are supported', `${at}.requestBody.content`);
    }
    return undefined;
  }
  const media = body.content[type];
  const schema = isObj(media) && isObj(media.schema) ? media.schema : {};
  return { schema, required: body.required === true };
}

/** The operation's base URL, and the part of it that comes from the document (pinned with the definition). */
function serverOf(p: BuildOneParams): { url: string; pinned: string | null } {
  const id = p.o.connectorId;
  if (p.o.baseUrl !== undefined) return { url: p.o.baseUrl.replace(/\/+$/, ''), pinned: null };
  const servers = [p.op.servers, p.item.servers, p.doc.document.servers].find(
    (s) => Array.isArray(s) && s.length > 0,
  ) as unknown[] | undefined;
  const server = servers?.[0];
  let template = '/';
  if (server !== undefined) {
    if (!isObj(server) || typeof server.url !== 'string') {
      throw documentError(id, 'must have a url', `${p.at}.servers[0]`);
    }
    template = server.url.replace(/\{([^}]+)\}/g, (_m, v: string) => {
      const variable = isObj(server.variables) ? server.variables[v] : undefined;
      if (!isObj(variable) || typeof variable.default !== 'string') {
        throw documentError(id, `server variable '${v}' has no default`, 'servers[0].variables');
      }
      return variable.default;
    });
  }
  if (p.doc.location.startsWith('file:') && !/^https?:\/\//i.test(template)) {
    throw documentError(id, 'has no absolute server URL: set baseUrl on the connector', 'servers');
  }
  const url = new URL(template, p.doc.location);
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw documentError(id, 'must be an http or https URL', 'servers[0].url');
  }
  if (url.username !== '' || url.password !== '') {
    throw documentError(id, 'must not carry credentials', 'servers[0].url');
  }
  url.search = '';
  url.hash = '';
  return { url: url.href.replace(/\/+$/, ''), pinned: template };
}

/** The first security requirement of the operation (or the document) whose every scheme has credentials set up. */
function chooseSecurity(p: BuildOneParams): SecuritySchemeUse[] {
  const id = p.o.connectorId;
  const requirements = (Array.isArray(p.op.security) ? p.op.security : p.doc.document.security) ?? [];
  if (!Array.isArray(requirements) || requirements.length === 0) return [];
  const components = isObj(p.doc.document.components) ? p.doc.document.components : {};
  const schemes = isObj(components.securitySchemes) ? components.securitySchemes : {};
  for (const requirement of requirements) {
    if (!isObj(requirement)) throw documentError(id, 'must be a list of objects', `${p.at}.security`);
    const names = Object.keys(requirement);
    if (names.every((n) => p.o.configuredSchemes.has(n))) {
      return names.map((n) => {
        const scheme = schemes[n];
        if (!isObj(scheme)) {
          throw documentError(id, `names security scheme '${n}', which is not defined`, `${p.at}.security`);
        }
        return { name: n, scheme };
      });
    }
  }
  const wanted = requirements
    .map((r) => Object.keys(isObj(r) ? r : {}).join(' + '))
    .filter(Boolean)
    .join(' or ');
  throw documentError(
    id,
    `operation '${p.operationId}' needs credentials for ${wanted}: set connectors.${id}.auth.<scheme>`,
    `${p.at}.security`,
  );
}

function methodAnnotations(method: (typeof METHODS)[number]): ToolAnnotations {
  switch (method) {
    case 'get':
    case 'head':
      return { readOnlyHint: true, idempotentHint: true };
    case 'put':
      return { readOnlyHint: false, destructiveHint: false, idempotentHint: true };
    case 'delete':
      return { readOnlyHint: false, destructiveHint: true, idempotentHint: true };
    default:
      return { readOnlyHint: false, destructiveHint: false, idempotentHint: false };
  }
}
