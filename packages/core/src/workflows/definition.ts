import fs from 'node:fs';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import type { BudgetConfig } from '../config/config.js';
import { hashJson } from '../crypto/canonical-json.js';
import { UserError } from '../errors.js';
import { parseInput } from '../validation.js';
import { compileExpression } from './expressions.js';
import { checkTriggers, triggerSchema } from './triggers.js';
import { checkKindStep, checkWorkflowCalls, kindSchemas } from './steps/kinds-schema.js';

const stepIdSchema = z
  .string()
  .regex(/^[a-z][a-z0-9_-]{0,62}$/, 'must be lowercase letters, digits, - or _, starting with a letter');
const durationSchema = z.string().regex(/^\d{1,6}[smhd]$/, 'must be like 30s, 15m, 1h or 2d');

const retrySchema = z
  .object({
    /** Attempts in all, the first included. */
    maxAttempts: z.number().int().min(1).max(20).default(1),
    /** Delay before the second attempt; doubles each time after. */
    backoff: durationSchema.default('1s'),
  })
  .strict();

const compensateSchema = z
  .object({
    tool: z.string().min(1),
    /** JSONata over `{ input, steps, output }` (`output`: this step's output) giving the tool input. */
    input: z.string().min(1).default('{}'),
    /** Agent to act as; default: the step's `as`. */
    as: z.string().min(1).optional(),
  })
  .strict();

/** A human to escalate to when the step is still unfinished after a while. */
const escalateSchema = z
  .object({
    /** How long the step may run, wait or be blocked before a human is told. */
    after: durationSchema,
    /** The group the step is escalated to. */
    to: z.string().min(1),
  })
  .strict();

/** The tool an action step calls instead while its own tool's connector circuit breaker is open. */
const fallbackSchema = z
  .object({
    tool: z.string().min(1),
    /** JSONata over `{ input, steps, context }`; default: the step's own `input`. */
    input: z.string().min(1).optional(),
    /** Agent to act as; default: the step's `as`. */
    as: z.string().min(1).optional(),
  })
  .strict();

const common = {
  dependsOn: z.array(stepIdSchema).default([]),
  /**
   * JSONata over `{ input, steps, context }` giving a resource key (e.g. `"vendor:" & input.vendor`): two steps
   * holding the same key never run at once.
   */
  lease: z.string().min(1).optional(),
  escalate: escalateSchema.optional(),
  /** JSONata over `{ input, steps }`; a falsy result skips the step. */
  when: z.string().min(1).optional(),
  retry: retrySchema.optional(),
  /** A waiting step (approval, action pending approval) fails when it waits longer than this. */
  timeout: durationSchema.optional(),
  description: z.string().max(2000).optional(),
};

const actionStep = z
  .object({
    ...common,
    kind: z.literal('action'),
    tool: z.string().min(1),
    /** The configured agent the action is submitted as. */
    as: z.string().min(1),
    /** JSONata over `{ input, steps }` giving the tool input. */
    input: z.string().min(1).default('{}'),
    reason: z.string().max(4000).optional(),
    compensate: compensateSchema.optional(),
    /** Called instead of `tool` while `tool`'s connector circuit breaker is open; without it the step pauses. */
    fallback: fallbackSchema.optional(),
  })
  .strict();

const taskStep = z
  .object({
    ...common,
    kind: z.literal('task'),
    /** Role of the agent that takes the task (an active agent of this role). */
    role: z.string().min(1),
    /** The in-process rule handler, registered by name; without one the task is worker work (the task queue). */
    rule: z.string().min(1).optional(),
    /** JSONata over `{ input, steps }` giving the handler's (or worker's) input; default: the run input. */
    input: z.string().min(1).optional(),
  })
  .strict();

// The remaining kinds (parallel, consensus, wait, workflow) live in ./steps/kinds-schema.ts; they reuse `common`.
const { parallelStep, consensusStep, waitStep, workflowStep } = kindSchemas({
  common,
  durationSchema,
  stepIdSchema,
  item: { action: actionStep, task: taskStep },
});

const approvalStep = z
  .object({
    ...common,
    kind: z.literal('approval'),
    group: z.string().min(1),
    quorum: z.number().int().min(1).max(20).default(1),
    /** What the approvers are asked (shown with the run and in the approvals inbox). */
    prompt: z.string().max(2000).optional(),
    /** Time each group gets before the request escalates (default: `approvals.defaultExpiry`). */
    expires: durationSchema.optional(),
    /** Groups the request moves to, in order, each time it expires undecided; after the last, the step fails. */
    escalation: z.array(z.string().min(1)).max(10).optional(),
  })
  .strict();

const reviewStep = z
  .object({
    ...common,
    kind: z.literal('review'),
    /** The task step whose output is reviewed; rerun with the critique on rejection. */
    step: stepIdSchema,
    role: z.string().min(1),
    /** Critic rule handler: answers `{ accept: boolean, critique?: string }`. */
    rule: z.string().min(1),
    /** Rejections allowed before the review fails the run. */
    maxRounds: z.number().int().min(1).max(10).default(2),
  })
  .strict();

const stepSchema = z.discriminatedUnion(
  'kind',
  [actionStep, taskStep, approvalStep, reviewStep, parallelStep, consensusStep, waitStep, workflowStep],
  {
    error:
      "must have kind 'action', 'task', 'approval', 'review', 'parallel', 'consensus', 'wait' or 'workflow'",
  },
);

/** The workflow file, as written (YAML or the builder). */
export const workflowSchema = z
  .object({
    name: z.string().regex(/^[a-z][a-z0-9_-]{0,62}$/, 'must be lowercase letters, digits, - or _'),
    version: z.union([z.string().min(1), z.number()]).transform(String),
    /** The directly responsible human (DRI). */
    owner: z.string({ error: 'is required (the human who answers for the workflow)' }).min(1),
    description: z.string().max(4000).optional(),
    /**
     * What one run may spend through its action steps, over its whole life: calls and cost units, checked and
     * reserved by the pipeline like any budget (`run:<id>`). Over it, the action is denied or needs an approval.
     */
    budget: z
      .object({
        calls: z.number().int().min(0).optional(),
        cost: z.number().int().min(0).optional(),
        onExceed: z.enum(['deny', 'approval']).default('deny'),
        /** Group that approves over-budget calls when onExceed is approval. */
        approvers: z.string().min(1).default('approvers'),
      })
      .strict()
      .refine((b) => b.calls !== undefined || b.cost !== undefined, { message: 'needs calls or cost' })
      .optional(),
    /**
     * Ownership order: when a resource lease frees, the waiting run of the workflow with the highest priority gets it
     * (then the earliest request), and workers take its tasks before those of lower priority. Default 0.
     */
    priority: z.number().int().min(-1000).max(1000).optional(),
    /** JSON Schema of the run input. */
    input: z.record(z.string(), z.unknown()).default({ type: 'object' }),
    /** JSONata over `{ input, steps }` giving the run output; default: every step's output. */
    output: z.string().min(1).optional(),
    /** How runs start besides an admin or the owner starting them: manual, webhook, cron. */
    triggers: z.array(triggerSchema).optional(),
    steps: z.record(stepIdSchema, stepSchema).refine((s) => Object.keys(s).length > 0, 'needs a step'),
  })
  .strict();

/** A workflow as written. */
export type WorkflowInput = z.input<typeof workflowSchema>;
/** A validated workflow definition. */
export type WorkflowDefinition = z.infer<typeof workflowSchema>;
/** One validated step. */
export type StepDefinition = WorkflowDefinition['steps'][string];

/** What validation can check against when the organisation is known. */
export interface WorkflowContext {
  /** Roles that have agents; a task or review naming another role is refused. */
  roles?: ReadonlySet<string>;
  /** Registered rule handlers. */
  rules?: ReadonlySet<string>;
  /** Known workflow names; a `workflow` step naming another is refused. */
  workflows?: ReadonlySet<string>;
}

function checkExpression(expr: string, field: string): void {
  try {
    compileExpression(expr);
  } catch (err) {
    throw new UserError(`bad JSONata expression: ${(err as Error).message}`, { field });
  }
}

/** Order steps so each comes after its dependencies; a cycle is a {@link UserError} naming a step on it. */
export function topologicalOrder(def: Pick<WorkflowDefinition, 'steps'>): string[] {
  const order: string[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (id: string, trail: string[]): void => {
    const s = state.get(id);
    if (s === 'done') return;
    if (s === 'visiting') {
      const cycle = [...trail.slice(trail.indexOf(id)), id].join(' → ');
      throw new UserError(`cycle: ${cycle}`, { field: `steps.${id}.dependsOn` });
    }
    state.set(id, 'visiting');
    for (const d of dependencies(def.steps[id] as StepDefinition)) visit(d, [...trail, id]);
    state.set(id, 'done');
    order.push(id);
  };
  for (const id of Object.keys(def.steps)) visit(id, []);
  return order;
}

/** A step's dependencies: `dependsOn`, plus the reviewed step for a review. */
export function dependencies(step: StepDefinition): string[] {
  return step.kind === 'review' && !step.dependsOn.includes(step.step)
    ? [...step.dependsOn, step.step]
    : step.dependsOn;
}

/**
 * Validates a workflow: shape (zod), dependencies, cycles, JSONata expressions (compiled), review targets, and —
 * when `context` says what exists — roles and rule handlers. Every error names the path of the fault, e.g.
 * `steps.review.dependsOn: unknown step 'x'`.
 */
export function parseWorkflow(raw: unknown, context: WorkflowContext = {}): WorkflowDefinition {
  const rawTriggers = (raw as { triggers?: unknown } | null)?.triggers;
  // Each trigger on its own first, so a fault is named like `triggers[1].cron`.
  if (Array.isArray(rawTriggers))
    rawTriggers.forEach((t, i) => parseInput(triggerSchema, t, `triggers[${i}]`));
  const def = parseInput(workflowSchema, raw);
  if (def.triggers) checkTriggers(def.triggers, def.input);
  for (const [id, step] of Object.entries(def.steps)) {
    const at = `steps.${id}`;
    for (const d of step.dependsOn) {
      if (!(d in def.steps)) throw new UserError(`unknown step '${d}'`, { field: `${at}.dependsOn` });
    }
    if (step.when) checkExpression(step.when, `${at}.when`);
    if (step.lease) checkExpression(step.lease, `${at}.lease`);
    if (step.kind === 'action' && step.fallback?.input)
      checkExpression(step.fallback.input, `${at}.fallback.input`);
    if ((step.kind === 'action' || step.kind === 'task') && step.input)
      checkExpression(step.input, `${at}.input`);
    if (step.kind === 'action' && step.compensate)
      checkExpression(step.compensate.input, `${at}.compensate.input`);
    if (step.kind === 'review') {
      const target = def.steps[step.step];
      if (!target) throw new UserError(`unknown step '${step.step}'`, { field: `${at}.step` });
      if (target.kind !== 'task')
        throw new UserError(`reviews a ${target.kind} step; only task steps can be rerun`, {
          field: `${at}.step`,
        });
    }
    checkKindStep(step, at, { ...context, check: checkExpression });
    if (
      (step.kind === 'task' || step.kind === 'review' || step.kind === 'consensus') &&
      context.roles &&
      !context.roles.has(step.role)
    )
      throw new UserError(`unknown role '${step.role}' (no agent has it)`, { field: `${at}.role` });
    if (
      (step.kind === 'task' || step.kind === 'review' || step.kind === 'consensus') &&
      step.rule &&
      context.rules &&
      !context.rules.has(step.rule)
    )
      throw new UserError(`unknown rule handler '${step.rule}'`, { field: `${at}.rule` });
  }
  if (def.output) checkExpression(def.output, 'output');
  topologicalOrder(def);
  return def;
}

/**
 * The TypeScript builder: the same model as the YAML file, validated the same way.
 *
 * @example
 * const wf = defineWorkflow({ name: 'hello', version: 1, owner: 'ada',
 *   steps: { greet: { kind: 'task', role: 'clerk', rule: 'greet' } } });
 */
export function defineWorkflow(def: WorkflowInput, context?: WorkflowContext): WorkflowDefinition {
  return parseWorkflow(def, context);
}

/** The budget a run of `def` adds to its agents' budgets (none when the workflow declares none). */
export function runBudgets(def: WorkflowDefinition, runId: string): BudgetConfig[] {
  return def.budget ? [{ ...def.budget, scope: `run:${runId}`, period: 'total' }] : [];
}

/** The content hash of a definition (pinned on each run). */
export function definitionHash(def: WorkflowDefinition): string {
  return hashJson(def);
}

/** Reads and validates one YAML (or JSON) workflow file; errors are prefixed with the file name. */
export function loadWorkflowFile(file: string, context?: WorkflowContext): WorkflowDefinition {
  let raw: unknown;
  try {
    raw = parseYaml(fs.readFileSync(file, 'utf8'));
  } catch (err) {
    throw new UserError(`cannot read workflow: ${(err as Error).message.split('\n')[0]}`, { field: file });
  }
  try {
    return parseWorkflow(raw, context);
  } catch (err) {
    if (err instanceof UserError) throw new UserError(err.message, { field: file, code: err.code });
    throw err;
  }
}

/**
 * Loads every `*.yaml`/`*.yml`/`*.json` file of a directory (or one file); duplicate names, sub-runs of unknown
 * workflows (directory only) and workflows calling themselves are refused.
 */
export function loadWorkflows(target: string, context?: WorkflowContext): WorkflowDefinition[] {
  let files: string[];
  let directory = false;
  try {
    directory = fs.statSync(target).isDirectory();
    files = directory
      ? fs
          .readdirSync(target)
          .filter((f) => /\.(ya?ml|json)$/.test(f))
          .sort()
          .map((f) => path.join(target, f))
      : [target];
  } catch (err) {
    throw new UserError(`cannot read (${(err as NodeJS.ErrnoException).code ?? 'error'})`, { field: target });
  }
  const out: WorkflowDefinition[] = [];
  for (const f of files) {
    const def = loadWorkflowFile(f, context);
    if (out.some((d) => d.name === def.name))
      throw new UserError(`workflow '${def.name}' is defined twice`, { field: `${f}.name` });
    out.push(def);
  }
  try {
    // One file alone cannot know its siblings: unknown sub-workflows are refused when a directory is loaded.
    checkWorkflowCalls(out, { allowUnknown: !directory });
  } catch (err) {
    if (err instanceof UserError) throw new UserError(err.message, { field: target, code: err.code });
    throw err;
  }
  return out;
}
