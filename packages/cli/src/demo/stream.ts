import fs from 'node:fs';
import path from 'node:path';
import { AosClient } from '@autonomy-os/sdk';
import type { Engine } from '@autonomy-os/core';
import type { SupportAgent } from './support-agent.js';
import type { DemoUpstreams } from './upstreams.js';
import { itemAt } from './work.js';
import type { WorkItem } from './work.js';

/** What working an item needs: the engine (workflows), the upstreams, the support agent and agents' tokens. */
export interface WorkContext {
  engine: Engine;
  url: string;
  upstreams: DemoUpstreams;
  support: SupportAgent;
  agentTokens: Record<string, string>;
}

/**
 * Hands one item to the organisation: an invoice or a change request starts its workflow (once per item, even
 * across restarts: the item id is the run's trigger key), a ticket is filed in the ticketing system and worked by
 * the support agent, and the shortcut and library items are agents acting directly through the REST front.
 */
export async function workItem(item: WorkItem, ctx: WorkContext): Promise<void> {
  const as = (agentId: string) => new AosClient({ url: ctx.url, token: ctx.agentTokens[agentId] as string });
  switch (item.kind) {
    case 'invoice':
      await ctx.engine.workflows.startOnce(
        'invoice-approval',
        {
          invoiceId: item.id,
          document: {
            number: item.id,
            vendor: item.vendor,
            total: item.amount,
            ...(item.currency ? { currency: item.currency } : {}),
          },
        },
        { actor: 'demo:mailroom', triggerKey: `demo:${item.id}` },
      );
      return;
    case 'change':
      await ctx.engine.workflows.startOnce(
        'change-request',
        { changeId: item.id, flag: item.flag, enabled: item.enabled, rollout: item.rollout },
        { actor: 'human:erin', triggerKey: `demo:${item.id}` },
      );
      return;
    case 'ticket':
      ctx.upstreams.tickets.open(item.ticket);
      await ctx.support.handle(item.ticket.ticketId);
      return;
    case 'shortcut':
      await as('release-bot').act({
        tool: 'flags.set_flag',
        input: { environment: 'production', flag: item.flag, enabled: true },
        reason: 'urgent: skipping the change process',
        idempotencyKey: `release-bot:${item.id}`,
      });
      return;
    case 'library': {
      const kb = as('kb-librarian');
      const key = (step: string) => ({
        idempotencyKey: `kb-librarian:${item.id}:${step}`,
        sessionId: item.id,
      });
      await kb.act({ tool: 'kb.list_directory', input: { path: ctx.upstreams.kbDir }, ...key('list') });
      await kb.act({
        tool: 'kb.read_text_file',
        input: { path: path.join(ctx.upstreams.kbDir, 'flag-changes.md') },
        ...key('read'),
      });
      await kb.act({
        tool: 'kb.write_file',
        input: { path: path.join(ctx.upstreams.kbDir, 'notes.md'), content: 'tidy-up notes' },
        reason: 'tidying the knowledge base',
        ...key('write'),
      });
      return;
    }
  }
}

/** Where the stream stopped: the index of the next item, kept in the data directory. */
export class StreamCursor {
  readonly #file: string;

  constructor(dataDir: string) {
    this.#file = path.join(dataDir, 'demo-stream.json');
  }

  read(): number {
    try {
      const n = (JSON.parse(fs.readFileSync(this.#file, 'utf8')) as { next?: unknown }).next;
      return typeof n === 'number' && Number.isInteger(n) && n >= 0 ? n : 0;
    } catch {
      return 0;
    }
  }

  write(next: number): void {
    const tmp = `${this.#file}.tmp`;
    fs.writeFileSync(tmp, JSON.stringify({ next }));
    fs.renameSync(tmp, this.#file);
  }
}

/**
 * The steady stream of work of a running demo: item after item every `intervalMs`, from where the cursor says,
 * until `limit` items or {@link stop}. An item that fails (an upstream down, a paused agent) is reported and the
 * stream moves on; working an item again is safe, so the cursor moves only once an item is done.
 */
export class WorkStream {
  #stopped = false;
  #wake: (() => void) | undefined;
  #done: Promise<void> | undefined;

  constructor(
    private readonly o: {
      ctx: WorkContext;
      cursor: StreamCursor;
      seed: number;
      intervalMs: number;
      limit: number;
      onError: (item: WorkItem, err: unknown) => void;
    },
  ) {}

  start(): void {
    this.#done = this.#loop();
  }

  async #loop(): Promise<void> {
    for (let i = this.o.cursor.read(); i < this.o.limit && !this.#stopped; i++) {
      const item = itemAt(i, this.o.seed);
      try {
        await workItem(item, this.o.ctx);
      } catch (err) {
        if (this.#stopped) return;
        this.o.onError(item, err);
      }
      this.o.cursor.write(i + 1);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, this.o.intervalMs);
        this.#wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
    }
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#wake?.();
    await this.#done;
  }
}
