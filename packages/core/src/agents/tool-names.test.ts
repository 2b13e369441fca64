import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { startScriptedModelServer } from '@autonomy-os/sdk/testing';
import { MODEL_TOOL_NAME, ToolNameMap } from './tool-names.js';

describe('ToolNameMap', () => {
  it('maps a <connector>.<tool> name to a model-safe one and back', () => {
    const names = new ToolNameMap(['payments.get_order', 'fs.read_text_file']);
    expect(names.toModel('payments.get_order')).toBe('payments_get_order');
    expect(names.fromModel('payments_get_order')).toBe('payments.get_order');
    expect(names.fromModel('payments.get_order')).toBeUndefined();
  });

  it('keeps names apart that would clash, and cuts long ones, whatever their order', () => {
    const long = `crm.${'x'.repeat(80)}`;
    const list = ['a.b_c', 'a_b.c', 'a_b_c', long, 'weird.tool name/ü'];
    const names = new ToolNameMap(list);
    const mapped = list.map((n) => names.toModel(n));
    expect(new Set(mapped).size).toBe(list.length);
    for (const m of mapped) expect(m).toMatch(MODEL_TOOL_NAME);
    for (const n of list) expect(names.fromModel(names.toModel(n))).toBe(n);
    const reversed = new ToolNameMap([...list].reverse());
    expect(list.map((n) => reversed.toModel(n))).toEqual(mapped);
  });

  it('round-trips any set of names into names the model APIs accept', () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.string({ minLength: 1, maxLength: 140 }), { maxLength: 30 }), (list) => {
        const names = new ToolNameMap(list);
        const mapped = list.map((n) => names.toModel(n));
        expect(new Set(mapped).size).toBe(list.length);
        for (const [i, m] of mapped.entries()) {
          expect(m).toMatch(MODEL_TOOL_NAME);
          expect(names.fromModel(m)).toBe(list[i]);
        }
      }),
    );
  });

  it.each(['openai', 'anthropic'] as const)(
    'gives names the scripted %s API accepts where the raw name is refused as the real API refuses it',
    async (provider) => {
      const model = await startScriptedModelServer({ script: [{ text: 'ok' }] });
      try {
        const post = async (name: string) => {
          const tool =
            provider === 'openai'
              ? { type: 'function', function: { name, parameters: { type: 'object' } } }
              : { name, input_schema: { type: 'object' } };
          const res = await fetch(
            `${model.url}/v1/${provider === 'openai' ? 'chat/completions' : 'messages'}`,
            {
              method: 'POST',
              headers: { 'content-type': 'application/json' },
              body: JSON.stringify({
                model: 'm',
                max_tokens: 10,
                messages: [{ role: 'user', content: 'hi' }],
                tools: [tool],
              }),
            },
          );
          return { status: res.status, body: (await res.json()) as Record<string, unknown> };
        };
        const raw = await post('payments.get_order');
        expect(raw.status).toBe(400);
        if (provider === 'openai')
          expect(raw.body).toEqual({
            error: {
              message:
                "Invalid 'tools[0].function.name': string does not match pattern. Expected a string that matches the pattern '^[a-zA-Z0-9_-]+$'.",
              type: 'invalid_request_error',
              param: 'tools[0].function.name',
              code: 'invalid_value',
            },
          });
        else
          expect(raw.body).toMatchObject({
            type: 'error',
            error: {
              type: 'invalid_request_error',
              message: "tools.0.custom.name: String should match pattern '^[a-zA-Z0-9_-]{1,64}$'",
            },
          });
        const mapped = await post(new ToolNameMap(['payments.get_order']).toModel('payments.get_order'));
        expect(mapped.status).toBe(200);
      } finally {
        await model.close();
      }
    },
  );
});
