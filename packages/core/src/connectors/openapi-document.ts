import fs from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { parse as parseYaml } from 'yaml';
import { AosError, SystemError, UserError } from '../errors.js';
import { withTimeout } from './with-timeout.js';

/** Where an OpenAPI document comes from: an http(s) URL or a local file (exactly one). */
export interface OpenApiSource {
  url?: string;
  file?: string;
}

/** A loaded, dereferenced OpenAPI document and where it came from (the base for relative server URLs). */
export interface OpenApiDocument {
  /** The document with every `$ref` replaced by its target (circular references are left as `$ref`). */
  document: Record<string, unknown>;
  /** The document's own location: its URL, or a `file:` URL for a file. */
  location: string;
  /** The OpenAPI version (`3.0.x` or `3.1.x`). */
  version: string;
}

/** Options for {@link loadOpenApiDocument}. */
export interface LoadOpenApiDocumentOptions {
  /** The connector id, used in error fields (`connectors.<id>.…`). */
  connectorId: string;
  /** Time allowed for fetching the document and each referenced one; default 10 000 ms. */
  timeoutMs?: number;
  /** Largest document accepted; default 5 MiB. */
  maxBytes?: number;
}

/** The error code of a document that cannot become tools; tool sync reports it instead of calling it unreachable. */
export const INVALID_OPENAPI_DOCUMENT = 'invalid_openapi_document';

/** A UserError about the document, naming the field (a JSON path in the document) where it can. */
export function documentError(connectorId: string, message: string, at?: string): UserError {
  return new UserError(message, {
    code: INVALID_OPENAPI_DOCUMENT,
    field: `connectors.${connectorId}.document${at ? `.${at}` : ''}`,
  });
}

/**
 * Loads an OpenAPI 3.0/3.1 document (JSON or YAML) and dereferences it with `@apidevtools/json-schema-ref-parser`.
 *
 * References are resolved offline by rule: a document from a URL may refer only to other documents on its own
 * origin (same scheme, host and port), fetched without following redirects; a document from a file may refer only
 * to other local files. Every other external `$ref` is refused with an error naming it — a document must not make
 * the control plane fetch from, or reveal local files to, anywhere else.
 *
 * @example const { document } = await loadOpenApiDocument({ url: 'http://127.0.0.1:7441/openapi.json' }, { connectorId: 'erp' });
 */
export async function loadOpenApiDocument(
  source: OpenApiSource,
  options: LoadOpenApiDocumentOptions,
): Promise<OpenApiDocument> {
  const id = options.connectorId;
  const timeoutMs = options.timeoutMs ?? 10_000;
  const maxBytes = options.maxBytes ?? 5 * 1024 * 1024;
  if ((source.url === undefined) === (source.file === undefined)) {
    throw new UserError('needs exactly one of url or file', { field: `connectors.${id}` });
  }
  let location: string;
  let text: string;
  if (source.url !== undefined) {
    const url = parseHttpUrl(source.url, `connectors.${id}.url`);
    location = url.href;
    text = await fetchText(url, { timeoutMs, maxBytes, what: `the OpenAPI document of connector ${id}` });
  } else {
    const file = path.resolve(source.file as string);
    location = pathToFileURL(file).href;
    try {
      text = await fs.readFile(file, 'utf8');
    } catch (error) {
      const code = (error as { code?: unknown }).code;
      throw new UserError(`cannot read ${file} (${typeof code === 'string' ? code : 'error'})`, {
        code: INVALID_OPENAPI_DOCUMENT,
        field: `connectors.${id}.file`,
      });
    }
  }
  const document = parseDocument(id, text);
  const version = document.openapi;
  if (typeof version !== 'string' || !/^3\.[01]\.\d+$/.test(version)) {
    throw documentError(
      id,
      'must be an OpenAPI 3.0.x or 3.1.x document (Swagger 2.0 is not read)',
      'openapi',
    );
  }
  const dereferenced = await dereference(id, document, location, { timeoutMs, maxBytes });
  return { document: dereferenced, location, version };
}

function parseDocument(id: string, text: string): Record<string, unknown> {
  let value: unknown;
  try {
    // YAML 1.2 is a superset of JSON, so one parser reads both.
    value = parseYaml(text, { maxAliasCount: 100 });
  } catch (error) {
    const line = (error as { linePos?: { line: number }[] }).linePos?.[0]?.line;
    throw documentError(id, `is not valid JSON or YAML${line !== undefined ? ` (line ${line})` : ''}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw documentError(id, 'must be a JSON or YAML object');
  }
  return value as Record<string, unknown>;
}

async function dereference(
  id: string,
  document: Record<string, unknown>,
  location: string,
  limits: { timeoutMs: number; maxBytes: number },
): Promise<Record<string, unknown>> {
  const { default: RefParser } = await import('@apidevtools/json-schema-ref-parser');
  const home = new URL(location);
  let refused: string | undefined;
  const resolver = {
    order: 1,
    canRead: true,
    read: async (file: { url: string }): Promise<string> => {
      const target = new URL(file.url, home);
      if (home.protocol === 'file:') {
        if (target.protocol !== 'file:') {
          refused = file.url;
          throw new Error('refused');
        }
        return fs.readFile(target, 'utf8');
      }
      if (target.origin !== home.origin) {
        refused = file.url;
        throw new Error('refused');
      }
      return fetchText(target, { ...limits, what: `a document referred to by connector ${id}` });
    },
  };
  try {
    // The parser resolves relative references against the location given here.
    const base = home.protocol === 'file:' ? decodeURIComponent(home.pathname) : home.href;
    return (await RefParser.dereference(base, structuredClone(document), {
      resolve: { file: false, http: false, aos: resolver } as never,
      dereference: { circular: 'ignore' },
      timeoutMs: limits.timeoutMs,
    })) as Record<string, unknown>;
  } catch (error) {
    if (refused !== undefined) {
      throw documentError(
        id,
        `refers to ${refused}: only references to the document's own ${home.protocol === 'file:' ? 'local files' : `origin ${home.origin}`} are followed`,
      );
    }
    if (error instanceof AosError) throw error;
    const message = error instanceof Error ? error.message : String(error);
    throw documentError(id, `has a $ref that cannot be resolved: ${message.split('\n')[0] ?? ''}`);
  }
}

function parseHttpUrl(value: string, field: string): URL {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new UserError('must be an absolute URL', { field });
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new UserError('must be an http or https URL', { field });
  }
  if (url.username !== '' || url.password !== '') {
    throw new UserError('must not carry credentials', { field });
  }
  return url;
}

/** GETs a document with a timeout and a size limit, without following redirects. */
async function fetchText(
  url: URL,
  o: { timeoutMs: number; maxBytes: number; what: string },
): Promise<string> {
  try {
    return await withTimeout(
      async (signal) => {
        const response = await fetch(url, {
          redirect: 'manual',
          signal,
          headers: { accept: 'application/json, application/yaml;q=0.9, */*;q=0.5' },
        });
        if (response.status !== 200) {
          await response.body?.cancel();
          throw new SystemError(`${o.what} answered HTTP ${response.status}`, { code: 'upstream_error' });
        }
        const chunks: Uint8Array[] = [];
        let size = 0;
        if (response.body) {
          const reader = response.body.getReader();
          for (;;) {
            const { done, value } = await reader.read();
            if (done) break;
            size += value.byteLength;
            if (size > o.maxBytes) {
              await reader.cancel();
              throw new SystemError(`${o.what} is larger than ${o.maxBytes} bytes`, {
                code: 'upstream_error',
              });
            }
            chunks.push(value);
          }
        }
        return Buffer.concat(chunks).toString('utf8');
      },
      { timeoutMs: o.timeoutMs, what: o.what },
    );
  } catch (error) {
    if (error instanceof AosError) throw error;
    const cause = (error as { cause?: { code?: unknown } }).cause;
    const reason = typeof cause?.code === 'string' ? cause.code : 'error';
    throw new SystemError(`${o.what} could not be fetched: ${reason}`, { code: 'upstream_unavailable' });
  }
}
