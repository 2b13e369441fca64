import type { Agent, Engine } from '@autonomy-os/core';
import type { ToolNaming } from './gateway-calls.js';

/** `_meta` key (and `Aos-Session-Id` header) naming the pipeline session a request belongs to. */
export const SESSION_META_KEY = 'autonomy-os/session';

/** Client capability extension (2026-07-28 `clientCapabilities.extensions`) asking for tool-name aliases. */
export const TOOL_NAMES_EXTENSION = 'autonomy-os/tool-names';

/** Session ids a client may name: visible ASCII, as the Streamable HTTP spec requires of session ids. */
const SESSION_ID = /^[\x21-\x7e]{1,128}$/;

const paramsOf = (message: unknown): Record<string, unknown> | undefined => {
  if (!message || typeof message !== 'object' || Array.isArray(message)) return undefined;
  const params = (message as { params?: unknown }).params;
  return params && typeof params === 'object' ? (params as Record<string, unknown>) : undefined;
};

const metaOf = (message: unknown): Record<string, unknown> | undefined => {
  const meta = paramsOf(message)?._meta;
  return meta && typeof meta === 'object' ? (meta as Record<string, unknown>) : undefined;
};

/**
 * The pipeline session a request names itself, on any revision: `_meta["autonomy-os/session"]` of the request,
 * else the `Aos-Session-Id` header (for clients that can set headers but not `_meta`). The id is used as given —
 * the one `POST /v1/sessions` answered — so it counts as a fresh session only when the engine opened it for this
 * agent; anything else is decided under the agent scope (fail closed).
 */
export function requestedSession(
  message: unknown,
  header: string | string[] | undefined,
): string | undefined {
  const fromMeta = metaOf(message)?.[SESSION_META_KEY];
  const value = typeof fromMeta === 'string' ? fromMeta : typeof header === 'string' ? header : undefined;
  return value !== undefined && SESSION_ID.test(value) ? value : undefined;
}

/**
 * How this request wants tool names: `?toolNames=alias|dotted` on the endpoint URL (any client, any revision), a
 * 2026-07-28 client's capability extension `autonomy-os/tool-names` (`{"style": "alias"}`), else
 * `mcp.toolNames.agents[<agent>]`, else `mcp.toolNames.default`.
 */
export function toolNamingOf(engine: Engine, agent: Agent, url: URL, message: unknown): ToolNaming {
  const query = url.searchParams.get('toolNames');
  if (query === 'alias' || query === 'dotted') return query;
  const caps = metaOf(message)?.['io.modelcontextprotocol/clientCapabilities'] as
    { extensions?: Record<string, { style?: unknown } | undefined> } | undefined;
  const style = caps?.extensions?.[TOOL_NAMES_EXTENSION]?.style;
  if (style === 'alias' || style === 'dotted') return style;
  const names = engine.config.mcp.toolNames;
  return names.agents[agent.id] ?? names.default;
}
