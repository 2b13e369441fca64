import type { components } from './generated/api.js';

/** The figures of one workflow, one agent, or everything, as `GET /v1/reports/summary` answers them. */
export type ReportSummaryRow = ReportSummary['totals'];

/** Leader metrics for a period: `aos report --json` prints the same. Generated from /v1/openapi.json. */
export type ReportSummary = components['schemas']['ReportSummary'];
