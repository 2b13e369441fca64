/**
 * @autonomy-os/sdk — a browser-safe client for agents and the console. Anything exported here is public API.
 */
export { AosClient } from './client.js';
export type { AosClientOptions, ActParams, Action } from './client.js';
export { AosApiError } from './errors.js';
export { AosWorker, NonRetryableError } from './worker.js';
export type { AosWorkerOptions, WorkerTask, WorkerContext, TaskHandler } from './worker.js';
