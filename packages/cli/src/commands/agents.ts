import type { Command } from 'commander';
import { promoteAgent } from '@autonomy-os/core';
import type { Agent } from '@autonomy-os/core';
import { promoteAgent as promoteAgentRemote } from '@autonomy-os/sdk';
import {
  actingHuman,
  cliActor,
  printJson,
  printTable,
  remote,
  withActingHuman,
  withEngine,
  withRemoteOptions,
  withStore,
} from '../context.js';

const COLUMNS = ['id', 'role', 'tier', 'owner', 'status', 'environments'];

function show(agent: Agent, json: boolean): void {
  if (json) printJson(agent);
  else printTable([agent as unknown as Record<string, unknown>], COLUMNS);
}

/** `aos agents …`: register agents and change their status. */
export function registerAgents(program: Command): void {
  const agents = program.command('agents').description('register agents, list them, pause, resume, revoke');

  agents
    .command('create')
    .description('register an agent with a role, a tier and a human owner')
    .argument('<id>', 'agent id (a-z, 0-9, ".", "_", "-")')
    .requiredOption('--role <role>', 'the role it plays, e.g. invoice-extractor')
    .requiredOption('--owner <human>', 'the human who answers for it (must exist: aos humans add)')
    .option('--tier <n>', 'autonomy tier: 0 read-only, 1 propose-only, 2 non-prod, 3 narrow prod', '0')
    .option('--name <text>', 'display name')
    .option('--env <envs>', 'comma-separated environments it may act in', 'dev')
    .option('--json', 'print JSON')
    .action(
      async (
        id: string,
        o: { role: string; owner: string; tier: string; name?: string; env: string; json?: boolean },
        cmd: Command,
      ) => {
        const agent = await withStore(cmd, (s) =>
          s.agents.create(
            {
              id,
              role: o.role,
              owner: o.owner,
              tier: o.tier,
              ...(o.name ? { displayName: o.name } : {}),
              environments: o.env
                .split(',')
                .map((e) => e.trim())
                .filter(Boolean),
            },
            cliActor(),
          ),
        );
        show(agent, !!o.json);
      },
    );

  agents
    .command('list')
    .description('list agents')
    .option('--role <role>', 'only this role')
    .option('--status <status>', 'only this status (active, paused, revoked)')
    .option('--json', 'print JSON')
    .action(
      async (
        o: { role?: string; status?: 'active' | 'paused' | 'revoked'; json?: boolean },
        cmd: Command,
      ) => {
        const list = await withStore(cmd, (s) =>
          s.agents.list({ ...(o.role ? { role: o.role } : {}), ...(o.status ? { status: o.status } : {}) }),
        );
        if (o.json) printJson(list);
        else printTable(list as unknown as Record<string, unknown>[], COLUMNS);
      },
    );

  agents
    .command('show')
    .description('show one agent')
    .argument('<id>', 'agent id')
    .option('--json', 'print JSON')
    .action(async (id: string, o: { json?: boolean }, cmd: Command) => {
      const agent = await withStore(cmd, (s) => s.agents.require(id, 'agent'));
      if (o.json) printJson(agent);
      else
        for (const [k, v] of Object.entries(agent))
          process.stdout.write(`${k.padEnd(14)}${Array.isArray(v) ? v.join(',') : String(v)}\n`);
    });

  const statusCommand = (
    name: 'pause' | 'resume' | 'revoke' | 'kill',
    change: 'pause' | 'resume' | 'revoke',
    what: string,
  ) =>
    agents
      .command(name)
      .description(what)
      .argument('<id>', 'agent id')
      .option('--reason <text>', 'why (recorded in the audit log)')
      .option('--json', 'print JSON')
      .action(async (id: string, o: { reason?: string; json?: boolean }, cmd: Command) => {
        const agent = await withStore(cmd, (s) => s.agents.setStatus(id, change, cliActor(), o.reason));
        show(agent, !!o.json);
      });
  statusCommand('pause', 'pause', 'pause an agent: its requests are refused until resumed');
  statusCommand('resume', 'resume', 'resume a paused agent');
  statusCommand('revoke', 'revoke', 'revoke an agent for good, with all its tokens');
  statusCommand('kill', 'revoke', 'stop an agent for good (same as revoke)');

  withActingHuman(
    withRemoteOptions(
      agents
        .command('promote')
        .description(
          "change an agent's tier (an admin other than its owner); raising it needs its gating suites to have passed",
        )
        .argument('<id>', 'agent id')
        .requiredOption('--tier <n>', 'new tier 0-3')
        .option('--reason <text>', 'why (recorded in the audit log)')
        .option('--json', 'print JSON'),
    ),
    'the admin promoting (not the agent’s owner)',
  ).action(
    async (
      id: string,
      o: { tier: string; reason?: string; json?: boolean; as?: string; config?: string },
      cmd: Command,
    ) => {
      const client = remote(cmd);
      const tier = Number(o.tier);
      const agent = client
        ? (await promoteAgentRemote(client, id, { tier, ...(o.reason ? { reason: o.reason } : {}) })).agent
        : await withEngine(cmd, o.config, async (engine) => {
            const by = await actingHuman(engine.store, o.as);
            return (
              await promoteAgent(engine, {
                agentId: id,
                tier,
                by,
                actor: `human:${by.id}`,
                ...(o.reason ? { reason: o.reason } : {}),
              })
            ).agent;
          });
      show(agent as Agent, !!o.json);
    },
  );
}
