import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

/**
 * The console's Content-Security-Policy: scripts, styles and connections only from this origin, no inline script,
 * no eval, no framing. Agent-written text reaches the page as text; this is the second wall if it ever did not.
 */
export const CONSOLE_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "font-src 'self'",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

/** Paths that belong to the API and are never answered with the console's page. */
const API_PATHS = /^\/(v1|mcp|metrics|healthz)(\/|$|\?)/;

/** Where the built console is: `dist/console` beside this module, or beside the sources when run from them. */
export function defaultConsoleDir(): string | undefined {
  const here = path.dirname(fileURLToPath(import.meta.url));
  return [path.join(here, 'console'), path.join(here, '..', 'dist', 'console')].find((d) =>
    fs.existsSync(path.join(d, 'index.html')),
  );
}

function secure(reply: FastifyReply): FastifyReply {
  return reply
    .header('content-security-policy', CONSOLE_CSP)
    .header('x-content-type-options', 'nosniff')
    .header('referrer-policy', 'no-referrer')
    .header('x-frame-options', 'DENY');
}

/**
 * Serves the built console at `/`: its files as they are, and `index.html` for any other GET that a browser asks
 * as a page (a client route such as `/approvals/apr_1`), so deep links and reloads work. API paths keep their own
 * JSON 404. Answers whether the console is served; without a build, `/` says how to build it; `false` serves
 * nothing at `/`.
 */
export function registerConsole(
  app: FastifyInstance,
  dir: string | undefined | false,
  notFound: (req: FastifyRequest, reply: FastifyReply) => void,
): boolean {
  if (dir === false) {
    app.setNotFoundHandler(notFound);
    return false;
  }
  if (!dir || !fs.existsSync(path.join(dir, 'index.html'))) {
    app.get('/', async (_req, reply) =>
      secure(reply)
        .type('text/plain; charset=utf-8')
        .send('The console is not built: run `npm run build` in the repository, then restart aos serve.\n'),
    );
    app.setNotFoundHandler(notFound);
    return false;
  }
  void app.register(fastifyStatic, {
    root: dir,
    prefix: '/',
    wildcard: false,
    index: ['index.html'],
    // Cache-Control is set per file below.
    cacheControl: false,
    // Hashed asset names change with every build, so they may be cached for long; index.html must not be.
    setHeaders(res, file) {
      res.setHeader('content-security-policy', CONSOLE_CSP);
      res.setHeader('x-content-type-options', 'nosniff');
      res.setHeader('referrer-policy', 'no-referrer');
      res.setHeader(
        'cache-control',
        file.includes(`${path.sep}assets${path.sep}`) ? 'public, max-age=31536000, immutable' : 'no-cache',
      );
    },
  });
  app.setNotFoundHandler((req, reply) => {
    const page =
      (req.method === 'GET' || req.method === 'HEAD') &&
      !API_PATHS.test(req.url) &&
      !/\.[a-z0-9]+$/i.test(req.url.split('?')[0] as string) &&
      (req.headers.accept ?? '').includes('text/html');
    if (!page) return notFound(req, reply);
    return secure(reply).header('cache-control', 'no-cache').sendFile('index.html');
  });
  return true;
}
