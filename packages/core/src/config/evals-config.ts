import { z } from 'zod';

const duration = z.string().regex(/^\d{1,6}[smhd]$/, 'must be like 30s, 15m, 1h or 2d');

/** What one tier of an agent needs before an admin may promote it there. */
export const tierGateSchema = z
  .object({
    /** Names of suites (keys of `evals.suites`) that must pass. */
    suites: z.array(z.string().min(1)).min(1, 'needs at least one suite'),
    /** Pass rate in percent each run must reach; default the suite's threshold. */
    threshold: z.number().min(0).max(100).optional(),
    /** How far back a run may be and still count. */
    window: duration.default('7d'),
    /** How many of the latest runs in the window must all pass. */
    consecutive: z.number().int().min(1).max(100).default(1),
  })
  .strict();
/** One tier's gate. */
export type TierGate = z.infer<typeof tierGateSchema>;

/** The `evals` section: suites, the sandbox's eval upstreams, tier gates and continuous evaluation. */
export const evalsConfigSchema = z
  .object({
    /** Suites by name: path of the suite file (relative to the config file). */
    suites: z.record(z.string().regex(/^[A-Za-z0-9_.-]{1,120}$/), z.string().min(1)).default({}),
    /**
     * Ids of connectors (in `connectors`) that are eval sandboxes, not production systems: the only real upstreams
     * a suite may name. Every other connector is production and refused.
     */
    connectors: z.array(z.string().min(1)).default([]),
    /** Cases run at once. */
    concurrency: z.number().int().min(1).max(64).default(4),
    /** Per agent, per tier (1-3): what promotion to that tier needs. */
    gates: z.record(z.string().min(1), z.partialRecord(z.enum(['1', '2', '3']), tierGateSchema)).default({}),
    /** Continuous evaluation: suites rerun on a schedule; a failing run acts on the agent. */
    schedule: z
      .object({
        every: duration,
        runs: z
          .array(z.object({ suite: z.string().min(1), agent: z.string().min(1) }).strict())
          .min(1, 'needs at least one run'),
        /** What a run below threshold does to the agent: demote one tier, or pause it. */
        onRegression: z.enum(['demote', 'pause']).default('demote'),
      })
      .strict()
      .optional(),
  })
  .strict();
/** The `evals` section, validated. */
export type EvalsConfig = z.infer<typeof evalsConfigSchema>;
