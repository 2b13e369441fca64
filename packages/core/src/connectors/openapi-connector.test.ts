import fs from 'node:fs';
import { createServer } from 'node:http';
import type { IncomingMessage, Server } from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfigFile } from '../config/config.js';
import { UserError } from '../errors.js';
import { EnvSecretStore } from '../secrets/index.js';
import { OpenApiConnector, metadataFromAnnotations } from './index.js';
import type { OpenApiConnectorConfig } from './index.js';

const SECRETS = {
  AOS_SECRET_KEY: 'key_0123456789_query',
  AOS_SECRET_TOKEN: 'tok_0123456789_bearer',
  AOS_SECRET_PASS: 'pw_0123456789_basic',
  AOS_SECRET_CLIENT: 'cs_0123456789_oauth',
};
const secrets = new EnvSecretStore({ env: SECRETS });

interface Seen {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: string;
}

type Obj = Record<string, unknown>;
const op = (operationId: string, extra: Obj = {}): Obj => ({
  operationId,
  responses: { 200: { description: 'OK' } },
  ...extra,
});

/** The pet shop's document, served at /openapi.json; tests swap parts of it. */
function petDocument(): Obj {
  return {
    openapi: '3.0.3',
    info: { title: 'Pets', version: '1' },
    servers: [{ url: '/api' }],
    security: [{ key: [] }],
    components: {
      securitySchemes: {
        key: { type: 'apiKey', in: 'query', name: 'api_key' },
        token: { type: 'http', scheme: 'bearer' },
        basic: { type: 'http', scheme: 'basic' },
        oauth: {
          type: 'oauth2',
          flows: { clientCredentials: { tokenUrl: '/oauth/token', scopes: { pets: 'pets' } } },
        },
      },
      schemas: { Pet: { type: 'object', properties: { name: { type: 'string' } }, required: ['name'] } },
    },
    paths: {
      '/pets/{petId}': {
        parameters: [{ name: 'petId', in: 'path', required: true, schema: { type: 'integer' } }],
        get: op('getPet', {
          tags: ['read'],
          parameters: [
            { name: 'fields', in: 'query', schema: { type: 'string' } },
            { name: 'X-Trace', in: 'header', schema: { type: 'string' } },
          ],
        }),
        put: op('replacePet', {
          security: [{ token: [] }],
          requestBody: {
            required: true,
            content: { 'application/json': { schema: { $ref: '#/components/schemas/Pet' } } },
          },
        }),
        delete: op('deletePet', { security: [{ basic: [] }] }),
      },
      '/pets': {
        post: op('add pet!', {
          security: [{ oauth: ['pets'] }],
          requestBody: {
            content: {
              'application/json': { schema: { type: 'array', items: { $ref: '#/components/schemas/Pet' } } },
            },
          },
        }),
        head: op('countPets', { security: [{}] }),
      },
    },
  };
}

async function caught(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected a rejection');
}

describe('OpenApiConnector against a local HTTP server', () => {
  let server: Server;
  let base: string;
  let document: Obj = petDocument();
  const extra = new Map<string, Obj>();
  const seen: Seen[] = [];
  let tokens = 0;
  const auth = {
    key: { secret: 'key' },
    token: { secret: 'token' },
    basic: { secret: 'pass', username: 'ada' },
    oauth: { secret: 'client', clientId: 'aos', scopes: ['pets'] },
  };
  const connector = (over: Partial<OpenApiConnectorConfig> = {}) =>
    new OpenApiConnector(
      { id: 'pets', url: `${base}/openapi.json`, auth, ...over },
      { secrets, timeoutMs: 5000 },
    );

  beforeAll(async () => {
    server = createServer((req, res) => {
      let body = '';
      req.setEncoding('utf8');
      req.on('data', (c: string) => (body += c));
      req.on('end', () => {
        const url = new URL(req.url ?? '/', 'http://127.0.0.1');
        const json = (status: number, value: unknown) => {
          res.writeHead(status, { 'content-type': 'application/json' });
          res.end(JSON.stringify(value));
        };
        if (url.pathname === '/openapi.json') return json(200, document);
        if (extra.has(url.pathname)) return json(200, extra.get(url.pathname));
        if (url.pathname === '/oauth/token') {
          tokens++;
          const ok =
            req.headers.authorization ===
            `Basic ${Buffer.from(`aos:${SECRETS.AOS_SECRET_CLIENT}`).toString('base64')}`;
          return ok && body.includes('grant_type=client_credentials') && body.includes('scope=pets')
            ? json(200, { access_token: 'at_oauth_issued_0001', expires_in: 3600 })
            : json(401, { error: 'invalid_client' });
        }
        seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
        json(200, { ok: true, echo: SECRETS.AOS_SECRET_KEY });
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address() as { port: number };
    base = `http://127.0.0.1:${address.port}`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  it('makes one tool per operation, named from the sanitised operationId, with effects from the method', async () => {
    document = petDocument();
    const tools = await connector().listTools();
    expect(tools.map((t) => t.name)).toEqual(['getPet', 'replacePet', 'deletePet', 'add_pet_', 'countPets']);
    const meta = Object.fromEntries(tools.map((t) => [t.name, metadataFromAnnotations(t.annotations)]));
    expect(meta.getPet).toMatchObject({ effect: 'read', idempotent: true });
    expect(meta.countPets).toMatchObject({ effect: 'read', idempotent: true });
    expect(meta.replacePet).toMatchObject({ effect: 'write', destructive: false, idempotent: true });
    expect(meta.deletePet).toMatchObject({
      effect: 'write',
      destructive: true,
      idempotent: true,
      risk: 'high',
    });
    expect(meta.add_pet_).toMatchObject({ effect: 'write', destructive: false, idempotent: false });
    const get = tools[0];
    expect(get?.inputSchema).toEqual({
      type: 'object',
      properties: { petId: { type: 'integer' }, fields: { type: 'string' }, 'X-Trace': { type: 'string' } },
      required: ['petId'],
      additionalProperties: false,
    });
    // A JSON object body is flattened into the input; any other body is the `body` field.
    expect(tools[1]?.inputSchema).toMatchObject({
      properties: { petId: {}, name: {} },
      required: ['petId', 'name'],
    });
    expect(tools[3]?.inputSchema).toMatchObject({ properties: { body: { type: 'array' } } });
  });

  it('selects by tag or operationId and applies per-operation overrides', async () => {
    document = petDocument();
    const tools = await connector({
      include: { tags: ['read'], operationIds: ['deletePet'] },
      operations: { deletePet: { effect: 'read', description: 'Archive a pet' } },
    }).listTools();
    expect(tools.map((t) => t.name)).toEqual(['getPet', 'deletePet']);
    expect(tools[1]).toMatchObject({ description: 'Archive a pet', annotations: { readOnlyHint: true } });
  });

  it('sends path, query, header and body where the document puts them, with each scheme filled from secrets', async () => {
    document = petDocument();
    const c = connector();
    seen.length = 0;
    const got = await c.callTool('getPet', { petId: 7, fields: 'name', 'X-Trace': 't-1' }, {});
    expect(got.isError).toBe(false);
    // A secret echoed by the upstream is scrubbed before it leaves the connector.
    expect(JSON.stringify(got)).not.toContain(SECRETS.AOS_SECRET_KEY);
    await c.callTool('replacePet', { petId: 7, name: 'Rex' }, {});
    await c.callTool('deletePet', { petId: 7 }, {});
    await c.callTool('add pet!'.replace(/[^\w]+/g, '_'), { body: [{ name: 'A' }] }, {});
    await c.callTool('add_pet_', { body: [{ name: 'B' }] }, {});
    await c.callTool('countPets', {}, {});
    const [get, put, del, post, post2, head] = seen;
    expect(get).toMatchObject({
      method: 'GET',
      url: `/api/pets/7?fields=name&api_key=${SECRETS.AOS_SECRET_KEY}`,
    });
    expect(get?.headers['x-trace']).toBe('t-1');
    expect(put).toMatchObject({ method: 'PUT', url: '/api/pets/7', body: '{"name":"Rex"}' });
    expect(put?.headers.authorization).toBe(`Bearer ${SECRETS.AOS_SECRET_TOKEN}`);
    expect(del?.headers.authorization).toBe(
      `Basic ${Buffer.from(`ada:${SECRETS.AOS_SECRET_PASS}`).toString('base64')}`,
    );
    expect(post).toMatchObject({ method: 'POST', url: '/api/pets', body: '[{"name":"A"}]' });
    expect(post?.headers.authorization).toBe('Bearer at_oauth_issued_0001');
    expect(post2?.headers.authorization).toBe('Bearer at_oauth_issued_0001');
    expect(tokens).toBe(1);
    expect(head).toMatchObject({ method: 'HEAD', url: '/api/pets' });
    expect(head?.headers.authorization).toBeUndefined();
  });

  it('pins the binding: moving an operation to another server changes only the definitions that moved', async () => {
    document = petDocument();
    const before = await connector().listTools();
    const moved = petDocument();
    (moved.paths as Record<string, Obj>)['/pets'] = {
      ...(moved.paths as Record<string, Obj>)['/pets'],
      servers: [{ url: 'http://127.0.0.9/api' }],
    };
    document = moved;
    const after = await connector().listTools();
    const differs = after
      .filter((t, i) => JSON.stringify(t) !== JSON.stringify(before[i]))
      .map((t) => t.name);
    expect(differs).toEqual(['add_pet_', 'countPets']);
  });

  it('follows references to its own origin and refuses any other', async () => {
    document = petDocument();
    extra.set('/schemas/pet.json', {
      type: 'object',
      properties: { name: { type: 'string', maxLength: 9 } },
    });
    const own = petDocument();
    (own.components as { schemas: Obj }).schemas.Pet = { $ref: `${base}/schemas/pet.json` };
    document = own;
    const tools = await connector().listTools();
    expect(tools[1]?.inputSchema).toMatchObject({ properties: { name: { maxLength: 9 } } });

    const foreign = petDocument();
    (foreign.components as { schemas: Obj }).schemas.Pet = { $ref: 'http://127.0.0.2:9/pet.json' };
    document = foreign;
    const err = await caught(connector().listTools());
    expect(err).toBeInstanceOf(UserError);
    expect(err.message).toMatch(
      /refers to http:\/\/127\.0\.0\.2:9\/pet\.json: only references to the document's own origin/,
    );

    const local = petDocument();
    (local.components as { schemas: Obj }).schemas.Pet = { $ref: 'file:///etc/passwd' };
    document = local;
    expect((await caught(connector().listTools())).message).toMatch(/refers to file:\/\/\/etc\/passwd/);
  });

  it.each([
    [
      'a Swagger 2.0 document',
      (d: Obj) => ({ swagger: '2.0', paths: d.paths }),
      /document\.openapi: must be an OpenAPI 3\.0/,
    ],
    [
      'a path parameter that is not declared',
      (d: Obj) => ({ ...d, paths: { '/x/{id}': { get: op('x') } } }),
      /paths\.\/x\/\{id\}\.get\.parameters: path parameter 'id' is not declared/,
    ],
    [
      'two operations that sanitise to one name',
      (d: Obj) => ({ ...d, paths: { '/a': { get: op('a.b') }, '/b': { get: op('a b') } } }),
      /paths\.\/b\.get\.operationId: becomes tool pets\.a_b, as does paths\.\/a\.get/,
    ],
    [
      'a scheme with no credentials configured',
      (d: Obj) => ({ ...d, paths: { '/a': { get: op('a', { security: [{ other: [] }] }) } } }),
      /operation 'a' needs credentials for other/,
    ],
    [
      'a required form body',
      (d: Obj) => ({
        ...d,
        paths: {
          '/a': { post: op('a', { requestBody: { required: true, content: { 'text/plain': {} } } }) },
        },
      }),
      /paths\.\/a\.post\.requestBody\.content: only JSON request bodies are supported/,
    ],
  ])('refuses %s with an error naming the field', async (_name, change, message) => {
    document = change(petDocument()) as Obj;
    const err = await caught(connector().listTools());
    expect(err).toBeInstanceOf(UserError);
    expect(err.message).toMatch(/^connectors\.pets\.document/);
    expect(err.message).toMatch(message);
  });

  it('reads a YAML document from a file, with baseUrl for its relative server', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'aos-oas-'));
    try {
      const file = path.join(dir, 'pets.yaml');
      fs.writeFileSync(
        file,
        [
          'openapi: 3.1.0',
          'info: { title: t, version: "1" }',
          'paths:',
          '  /ping:',
          '    get: { operationId: ping, responses: { "200": { description: OK } } }',
        ].join('\n'),
      );
      const noBase = new OpenApiConnector({ id: 'pets', file }, { secrets });
      expect((await caught(noBase.listTools())).message).toMatch(/set baseUrl on the connector/);
      seen.length = 0;
      const c = new OpenApiConnector({ id: 'pets', file, baseUrl: `${base}/v1` }, { secrets });
      expect((await c.listTools()).map((t) => t.name)).toEqual(['ping']);
      await c.callTool('ping', {}, {});
      expect(seen[0]).toMatchObject({ method: 'GET', url: '/v1/ping' });
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('reads the documented example (docs/examples/openapi-connector) into the tools the page describes', async () => {
    const config = loadConfigFile(
      fileURLToPath(new URL('../../../../docs/examples/openapi-connector/aos.yaml', import.meta.url)),
    );
    const c = config.connectors[0];
    if (c?.type !== 'openapi') throw new Error('expected an openapi connector');
    const tools = await new OpenApiConnector(c, { secrets }).listTools();
    expect(tools.map((t) => t.name)).toEqual(['getItem', 'adjustStock', 'searchItems']);
    expect(tools[1]?.inputSchema).toMatchObject({
      properties: { sku: { pattern: '^[A-Z0-9-]{3,20}$' }, 'Idempotency-Key': {}, delta: { maximum: 1000 } },
      required: ['sku', 'delta', 'reason'],
    });
    expect(tools[1]?.binding).toMatchObject({
      server: 'https://warehouse.example.com/v2',
      path: '/items/{sku}/adjustments',
    });
    expect(metadataFromAnnotations(tools[2]?.annotations)).toMatchObject({
      effect: 'read',
      untrustedOutput: false,
    });
  });
});
