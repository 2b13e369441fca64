import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { configJsonSchema } from '@autonomy-os/core';
import { aos } from './helpers/cli.js';
import { SUPPORT_DESK } from './helpers/support-desk.js';

describe('aos.yaml', () => {
  it('publishes its JSON Schema in docs/aos.schema.json, kept in step with the code', () => {
    const published = JSON.parse(
      fs.readFileSync(new URL('../docs/aos.schema.json', import.meta.url), 'utf8'),
    ) as unknown;
    expect(published).toEqual(configJsonSchema());
  });

  it('validates the example config', () => {
    const res = aos(['config', 'validate', path.join(SUPPORT_DESK, 'aos.yaml')]);
    expect(res.code).toBe(0);
    expect(res.stdout).toMatch(/valid; 1 connector\(s\)/);
  });

  it.each([
    ['a misspelt key', 'server:\n  prot: 1\n', /config\.server\.prot: is not a known field/],
    [
      'a bad method',
      'connectors:\n  - id: x\n    type: http\n    operations:\n      - { name: a, method: GOT, url: "http://x" }\n',
      /config\.connectors\.0\.operations\.0\.method/,
    ],
    [
      'a bad budget scope',
      'budgets:\n  - { scope: team, calls: 1 }\n',
      /config\.budgets\.0\.scope: must be global, role:<role> or agent:<id>/,
    ],
    ['a bad expiry', 'approvals:\n  defaultExpiry: soon\n', /config\.approvals\.defaultExpiry/],
    ['broken YAML', 'server: [\n', /config: .* is not valid YAML/],
    [
      'an LLM agent key written out instead of a secret reference',
      'llmAgents:\n  - { agent: bot, systemPrompt: hi, model: { provider: openai, model: m, apiKey: sk-live-123 } }\n',
      /config\.llmAgents\.0\.model\.apiKey: must be a secret reference/,
    ],
    [
      'an unknown model provider',
      'llmAgents:\n  - { agent: bot, systemPrompt: hi, model: { provider: gemini, model: m } }\n',
      /config\.llmAgents\.0\.model\.provider/,
    ],
    [
      'a __proto__ key (which a parser would drop silently)',
      'tools:\n  __proto__:\n    effect: read\n',
      /config\.tools\.__proto__: is a reserved key/,
    ],
  ])('rejects %s with an error naming the path', (_n, text, message) => {
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'aos-cfg-')), 'aos.yaml');
    fs.writeFileSync(file, text);
    const res = aos(['config', 'validate', file]);
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(message);
  });
});
