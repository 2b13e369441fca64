/** The figures of one workflow, one agent, or everything, as `GET /v1/reports/summary` answers them. */
export interface ReportSummaryRow {
  name: string;
  runs: number;
  cycleTime: { p50Sec: number | null; p90Sec: number | null };
  actions: {
    total: number;
    allowed: number;
    approval: number;
    denied: number;
    succeeded: number;
    failed: number;
    unknownOutcome: number;
  };
  /** Share of actions that needed a human approval (0-1). */
  escalationRate: number | null;
  approvalLatency: { p50Sec: number | null; p90Sec: number | null };
  costPerRun: number | null;
  costPerChange: number | null;
  evalCoverage: number | 'n/a';
  /** Share of settled actions whose receipt is complete (0-1). */
  auditability: number | null;
}

/** Leader metrics for a period: `aos report --json` prints the same. */
export interface ReportSummary {
  since: string;
  until: string;
  totals: ReportSummaryRow;
  workflows: ReportSummaryRow[];
  agents: ReportSummaryRow[];
}
