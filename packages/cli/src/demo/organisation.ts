import fs from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { UserError, parseInput } from '@autonomy-os/core';
import type { Store } from '@autonomy-os/core';

const id = z.string().regex(/^[a-z0-9][a-z0-9._-]{0,63}$/, 'must be a lower-case id');

const agentSchema = z
  .object({
    id,
    role: id,
    tier: z.number().int().min(0).max(3),
    owner: id,
    environments: z.array(id).min(1).optional(),
    displayName: z.string().min(1).max(200).optional(),
  })
  .strict();

/** `organisation.yaml`: the people, departments and agents of an organisation, created by `aos demo`. */
export const organisationSchema = z
  .object({
    humans: z
      .array(
        z
          .object({
            id,
            displayName: z.string().min(1).max(200).optional(),
            groups: z.array(z.string().min(1)),
          })
          .strict(),
      )
      .min(1),
    departments: z.record(
      id,
      z
        .object({ workflows: z.array(z.string().min(1)).optional(), agents: z.array(agentSchema).min(1) })
        .strict(),
    ),
  })
  .strict();

/** A validated organisation file. */
export type Organisation = z.infer<typeof organisationSchema>;

/** An agent of the organisation with the department it belongs to. */
export type OrganisationAgent = z.infer<typeof agentSchema> & { department: string };

/** Reads and validates an organisation file; errors name the field (`organisation.departments.x.agents.0.tier`). */
export function loadOrganisation(file: string): Organisation {
  let raw: unknown;
  try {
    raw = parseYaml(fs.readFileSync(file, 'utf8'));
  } catch (err) {
    throw new UserError(`cannot read ${file}: ${(err as Error).message.split('\n')[0]}`, {
      field: 'organisation',
    });
  }
  const org = parseInput(organisationSchema, raw, 'organisation');
  const humans = new Set(org.humans.map((h) => h.id));
  for (const a of agentsOf(org)) {
    if (!humans.has(a.owner))
      throw new UserError(`owner '${a.owner}' of agent ${a.id} is not one of the humans`, {
        field: `organisation.departments.${a.department}.agents`,
      });
  }
  return org;
}

/** Every agent of the organisation, department by department. */
export function agentsOf(org: Organisation): OrganisationAgent[] {
  return Object.entries(org.departments).flatMap(([department, d]) =>
    d.agents.map((a) => ({ ...a, department })),
  );
}

/**
 * Creates the humans and agents that do not exist yet. Existing ones are left as they are: a person who paused an
 * agent or promoted it keeps that decision across restarts.
 */
export async function applyOrganisation(store: Store, org: Organisation, actor: string): Promise<void> {
  for (const h of org.humans) {
    if (!(await store.humans.get(h.id)))
      await store.humans.add(
        { id: h.id, ...(h.displayName ? { displayName: h.displayName } : {}), groups: h.groups },
        actor,
      );
  }
  for (const a of agentsOf(org)) {
    if (await store.agents.get(a.id)) continue;
    await store.agents.create(
      {
        id: a.id,
        role: a.role,
        tier: a.tier,
        owner: a.owner,
        displayName: a.displayName ?? `${a.id} (${a.department})`,
        ...(a.environments ? { environments: a.environments } : {}),
      },
      actor,
    );
  }
}
