import { z } from 'zod';
import { UserError } from '../../errors.js';
import type { StepDefinition } from '../definition.js';

/** The pieces of definition.ts the kinds below are built from (passed in so the schemas live here, not there). */
export interface KindSchemaParts<C extends z.ZodRawShape, A extends z.ZodRawShape, T extends z.ZodRawShape> {
  common: C;
  durationSchema: z.ZodString;
  stepIdSchema: z.ZodString;
  item: { action: z.ZodObject<A>; task: z.ZodObject<T> };
}

/**
 * Schemas of the `parallel`, `consensus`, `wait` and `workflow` step kinds. A parallel step's `do` is an action or
 * task step without the scheduling keys (`dependsOn`, `when`, `retry`, `timeout`): those belong to the parallel step.
 */
export function kindSchemas<C extends z.ZodRawShape, A extends z.ZodRawShape, T extends z.ZodRawShape>(
  p: KindSchemaParts<C, A, T>,
) {
  const scheduling = { dependsOn: true, when: true, retry: true, timeout: true } as const;
  // zod's omit() is typed per literal key set; the item shapes share `common`, so these keys exist on both.
  const actionItem = (p.item.action as unknown as z.ZodObject<z.ZodRawShape>).omit(scheduling);
  const taskItem = (p.item.task as unknown as z.ZodObject<z.ZodRawShape>).omit(scheduling);

  const parallelStep = z
    .object({
      ...p.common,
      kind: z.literal('parallel'),
      /** JSONata over `{ input, steps }` giving the array to fan out over. */
      over: z.string().min(1),
      /** The step run once per element; its expressions also see `item` and `index`. */
      do: z.discriminatedUnion('kind', [actionItem, taskItem] as never, {
        error: "must have kind 'action' or 'task'",
      }) as unknown as z.ZodType<ParallelItemTemplate, ParallelItemTemplateInput>,
      /** Items in flight at once; default: all. */
      maxConcurrency: z.number().int().min(1).max(1000).optional(),
    })
    .strict();

  const consensusStep = z
    .object({
      ...p.common,
      kind: z.literal('consensus'),
      /** Role of the voting agents; each item goes to a different active agent of the role. */
      role: z.string().min(1),
      /** The in-process rule handler each agent answers with; without one each item is a worker task. */
      rule: z.string().min(1).optional(),
      /** How many agents are asked (M). */
      agents: z.number().int().min(1).max(50),
      /** How many answers must agree (N). */
      quorum: z.number().int().min(1).max(50),
      /** JSONata over `{ input, steps }` giving the agents' input; default: the run input. */
      input: z.string().min(1).optional(),
      /** JSONata over the answer giving the value compared; default: the answer's `vote` field. */
      vote: z.string().min(1).optional(),
    })
    .strict();

  const waitStep = z
    .object({
      ...p.common,
      kind: z.literal('wait'),
      /** Name of the signal (`POST /v1/runs/:id/signals`) that ends the wait; its data is the output. */
      event: z
        .string()
        .regex(/^[A-Za-z][A-Za-z0-9_.:-]{0,99}$/, 'must be a signal name (letters, digits, _ . : -)')
        .optional(),
      /** How long to wait, like 30s, 10m, 2h or 1d. */
      for: p.durationSchema.optional(),
      /** JSONata over `{ input, steps }` giving the ISO time to wait until. */
      until: z.string().min(1).optional(),
    })
    .strict();

  const workflowStep = z
    .object({
      ...p.common,
      kind: z.literal('workflow'),
      /** The workflow run as a child run. */
      workflow: z.string().min(1),
      /** JSONata over `{ input, steps }` giving the child's input; default: this run's input. */
      input: z.string().min(1).optional(),
    })
    .strict();

  return { parallelStep, consensusStep, waitStep, workflowStep };
}

/** A parallel step's item: an action or a task, without scheduling keys. */
export type ParallelItemTemplate =
  | {
      kind: 'action';
      tool: string;
      as: string;
      input: string;
      reason?: string;
      description?: string;
      compensate?: { tool: string; input: string; as?: string };
    }
  | { kind: 'task'; role: string; rule?: string; input?: string; description?: string };

/** A parallel step's item as written (action `input` and `compensate.input` default to `{}`). */
export type ParallelItemTemplateInput =
  | (Omit<Extract<ParallelItemTemplate, { kind: 'action' }>, 'input' | 'compensate'> & {
      input?: string;
      compensate?: { tool: string; input?: string; as?: string };
    })
  | Extract<ParallelItemTemplate, { kind: 'task' }>;

/** What the kinds' cross-field checks need. */
export interface KindCheckContext {
  roles?: ReadonlySet<string>;
  rules?: ReadonlySet<string>;
  workflows?: ReadonlySet<string>;
  /** Compiles a JSONata expression, throwing a {@link UserError} naming `field`. */
  check: (expr: string, field: string) => void;
}

/** Cross-field checks of the step kinds defined here; each error names the path (`steps.fan.over: …`). */
export function checkKindStep(step: StepDefinition, at: string, c: KindCheckContext): void {
  switch (step.kind) {
    case 'parallel': {
      c.check(step.over, `${at}.over`);
      const d = step.do;
      if (d.input) c.check(d.input, `${at}.do.input`);
      if (d.kind === 'action' && d.compensate) c.check(d.compensate.input, `${at}.do.compensate.input`);
      if (d.kind === 'task' && c.roles && !c.roles.has(d.role))
        throw new UserError(`unknown role '${d.role}' (no agent has it)`, { field: `${at}.do.role` });
      if (d.kind === 'task' && d.rule && c.rules && !c.rules.has(d.rule))
        throw new UserError(`unknown rule handler '${d.rule}'`, { field: `${at}.do.rule` });
      return;
    }
    case 'consensus':
      if (step.quorum > step.agents) throw new UserError('must be at most agents', { field: `${at}.quorum` });
      if (step.input) c.check(step.input, `${at}.input`);
      if (step.vote) c.check(step.vote, `${at}.vote`);
      return;
    case 'wait': {
      const set = (['event', 'for', 'until'] as const).filter((k) => step[k] !== undefined);
      if (set.length !== 1)
        throw new UserError("needs exactly one of 'event', 'for' or 'until'", { field: at });
      if (step.until) c.check(step.until, `${at}.until`);
      if (step.timeout && !step.event)
        throw new UserError("applies to event waits only (use 'for' or 'until')", { field: `${at}.timeout` });
      return;
    }
    case 'workflow':
      if (step.input) c.check(step.input, `${at}.input`);
      if (c.workflows && !c.workflows.has(step.workflow))
        throw new UserError(`unknown workflow '${step.workflow}'`, { field: `${at}.workflow` });
      return;
    default:
      return;
  }
}

/**
 * Refuses `workflow` steps naming an unknown workflow, and workflows that call themselves (directly or through
 * others), naming the path of the fault: `<workflow>.steps.<id>.workflow: calls itself: a → b → a`. With
 * `allowUnknown` (one file validated alone) only cycles among `defs` are refused.
 */
export function checkWorkflowCalls(
  defs: readonly { name: string; steps: Record<string, StepDefinition> }[],
  options: { allowUnknown?: boolean } = {},
): void {
  const byName = new Map(defs.map((d) => [d.name, d]));
  const calls = (name: string) =>
    Object.entries(byName.get(name)?.steps ?? {}).flatMap(([id, s]) =>
      s.kind === 'workflow' ? [{ id, target: s.workflow }] : [],
    );
  for (const d of defs) {
    for (const c of calls(d.name)) {
      if (!byName.has(c.target) && !options.allowUnknown)
        throw new UserError(`unknown workflow '${c.target}'`, { field: `${d.name}.steps.${c.id}.workflow` });
    }
  }
  const done = new Set<string>();
  const visit = (name: string, trail: string[], via: string): void => {
    if (trail.includes(name)) {
      const cycle = [...trail.slice(trail.indexOf(name)), name].join(' → ');
      throw new UserError(`calls itself: ${cycle}`, { field: via });
    }
    if (done.has(name)) return;
    for (const c of calls(name)) visit(c.target, [...trail, name], `${name}.steps.${c.id}.workflow`);
    done.add(name);
  };
  for (const d of defs) visit(d.name, [], d.name);
}
