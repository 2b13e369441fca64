import crypto from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { UserError } from '../errors.js';
import { defineWorkflow } from './definition.js';
import type { WorkflowInput } from './definition.js';
import {
  checkWorkflowHookSignature,
  latestSlot,
  signWorkflowHook,
  signedWebhookHeaders,
} from './triggers.js';

const base = (triggers: unknown[]): WorkflowInput =>
  ({
    name: 'nightly',
    version: 1,
    owner: 'ada',
    input: { type: 'object', properties: { day: { type: 'string' } }, additionalProperties: false },
    steps: { work: { kind: 'task', role: 'clerk', rule: 'do' } },
    triggers,
  }) as WorkflowInput;

function fault(triggers: unknown[]): { field?: string; message: string } {
  try {
    defineWorkflow(base(triggers));
  } catch (err) {
    if (err instanceof UserError) return { field: err.field as string, message: err.message };
    throw err;
  }
  throw new Error('accepted');
}

describe('workflow triggers', () => {
  it('accepts manual, webhook (secret reference) and cron triggers', () => {
    const def = defineWorkflow(
      base([
        { manual: {} },
        { webhook: { secret: '${secret:nightly_hook}' } },
        { cron: '0 2 * * *', input: { day: 'today' } },
      ]),
    );
    expect(def.triggers).toHaveLength(3);
  });

  it.each([
    ['a cron expression that does not parse', [{ manual: {} }, { cron: '61 * * * *' }], 'triggers[1].cron'],
    ['a cron expression with six fields', [{ cron: '0 0 2 * * *' }], 'triggers[0].cron'],
    ['an inline webhook secret', [{ webhook: { secret: 'hunter2' } }], 'triggers[0].webhook.secret'],
    ['an unknown trigger', [{ email: {} }], 'triggers[0]'],
    [
      'a cron input the input schema refuses',
      [{ cron: '* * * * *', input: { day: 3 } }],
      'triggers[0].input.day',
    ],
    ['a second cron trigger', [{ cron: '* * * * *' }, { cron: '0 * * * *' }], 'triggers[1].cron'],
  ])('refuses %s, naming the path', (_what, triggers, field) => {
    expect(fault(triggers).field).toBe(field);
  });

  it('finds the latest cron slot at or before now (UTC)', () => {
    const slot = Date.UTC(2026, 10, 22, 2, 0, 0);
    expect(latestSlot('0 2 * * *', slot)).toBe(slot);
    expect(latestSlot('0 2 * * *', slot + 3_600_000)).toBe(slot);
    expect(latestSlot('0 2 * * *', slot - 1)).toBe(slot - 86_400_000);
  });

  it('signs the timestamp, the delivery id and the body with HMAC-SHA256 and checks signatures exactly', () => {
    const signed = { body: '{"a":1}', delivery: 'evt-1', timestamp: '1764590400' };
    const sig = signWorkflowHook('key-1', signed);
    expect(sig).toMatch(/^sha256=[0-9a-f]{64}$/);
    expect(sig).toBe(
      `sha256=${crypto.createHmac('sha256', 'key-1').update('1764590400.evt-1.{"a":1}').digest('hex')}`,
    );
    expect(checkWorkflowHookSignature('key-1', { ...signed, body: Buffer.from('{"a":1}') }, sig)).toBe(true);
    expect(checkWorkflowHookSignature('key-2', signed, sig)).toBe(false);
    expect(checkWorkflowHookSignature('key-1', { ...signed, body: '{"a":2}' }, sig)).toBe(false);
    expect(checkWorkflowHookSignature('key-1', { ...signed, delivery: 'evt-2' }, sig)).toBe(false);
    expect(checkWorkflowHookSignature('key-1', { ...signed, timestamp: '1764590401' }, sig)).toBe(false);
    expect(checkWorkflowHookSignature('key-1', signed, 'sha256=00')).toBe(false);
  });

  it('makes the three headers a sender needs', () => {
    const headers = signedWebhookHeaders('key-1', {
      body: '{}',
      delivery: 'evt-9',
      nowMs: 1_764_590_400_123,
    });
    expect(headers).toEqual({
      'x-aos-timestamp': '1764590400',
      'x-aos-delivery': 'evt-9',
      'x-aos-signature': signWorkflowHook('key-1', {
        body: '{}',
        delivery: 'evt-9',
        timestamp: '1764590400',
      }),
    });
  });
});
