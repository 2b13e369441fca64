import type { Command } from 'commander';
import {
  ContinuousEvaluation,
  UserError,
  createEngine,
  loadConfigFile,
  openStore,
  parseConfig,
} from '@autonomy-os/core';
import { demoEvalRules } from '../demo/support-evals.js';
import { buildServer } from '@autonomy-os/server';
import { globals } from '../context.js';
import { lockDataDir } from '../data-dir-lock.js';
import { VERSION } from '../version.js';

/** `aos serve`: run the HTTP server until SIGINT/SIGTERM. */
export function registerServe(program: Command): void {
  program
    .command('serve')
    .description('run the Autonomy OS server')
    .option('--config <file>', 'aos.yaml configuration file')
    .option('--port <n>', 'port to listen on (default 7420; 0 picks a free one)')
    .option('--host <addr>', 'address to listen on (default 127.0.0.1)')
    .option('--quiet', 'no request logs')
    .action(async (o: { config?: string; port?: string; host?: string; quiet?: boolean }, cmd: Command) => {
      const g = globals(cmd);
      const config = o.config ? loadConfigFile(o.config) : parseConfig({});
      if (o.port !== undefined) {
        const port = Number(o.port);
        if (!Number.isInteger(port) || port < 0 || port > 65535)
          throw new UserError('must be 0-65535', { field: 'port' });
        config.server.port = port;
      }
      if (o.host) config.server.host = o.host;
      const store = await openStore({ dataDir: g.data, databaseUrl: g.databaseUrl });
      const releaseLock = store.db.dialect === 'sqlite' ? lockDataDir(store.dataDir) : () => undefined;
      store.signingKey();
      // The engine logs JSON lines to stderr: each action's end (ids, status, trace id) unless quiet, and the errors
      // background loops survive, quiet or not.
      const engine = await createEngine({ store, config, logger: { level: o.quiet ? 'warn' : 'info' } });
      await engine.start();
      const server = buildServer({ engine, version: VERSION, logger: o.quiet ? false : { level: 'info' } });
      const url = await server.listen();
      process.stdout.write(
        `aos ${VERSION} listening on ${url} (store: ${store.db.dialect}, data: ${store.dataDir}, tools: ${engine.tools.list().length}, policy ${engine.policies().hash.slice(0, 12)})\n`,
      );
      if (engine.llmAgents.ids().length) {
        // A missing or refused model key is reported here, naming the agent; the others start.
        const checks = await engine.llmAgents.check();
        for (const c of checks) if (!c.ok) process.stderr.write(`${c.problem ?? c.agent}\n`);
        const ok = checks.filter((c) => c.ok).map((c) => c.agent);
        engine.llmAgents.start({ agents: ok });
        process.stdout.write(`LLM agents: ${ok.join(', ') || 'none started'}\n`);
      }
      // Continuous evaluation (evals.schedule): suites rerun in the background; a regression demotes or pauses.
      const continuous = new ContinuousEvaluation({ engine, rules: demoEvalRules });
      continuous.start();
      const stop = async () => {
        continuous.stop();
        await server.close();
        await engine.close();
        await store.close();
        releaseLock();
        process.exit(0);
      };
      process.once('SIGINT', () => void stop());
      process.once('SIGTERM', () => void stop());
    });
}
