import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { configJsonSchema } from '@autonomy-os/core';
import { renderConfigReference } from '../scripts/config-reference.mjs';

describe('docs/configuration-reference.md', () => {
  it('is generated from the JSON Schema of aos.yaml (npm run docs:config rewrites it)', async () => {
    const page = fs.readFileSync(new URL('../docs/configuration-reference.md', import.meta.url), 'utf8');
    expect(page).toBe(await (renderConfigReference as (s: unknown) => Promise<string>)(configJsonSchema()));
  });

  it('lists every top-level key of the schema', async () => {
    const schema = configJsonSchema() as { properties: Record<string, unknown> };
    const page = await (renderConfigReference as (s: unknown) => Promise<string>)(schema);
    for (const key of Object.keys(schema.properties)) expect(page).toContain(`| \`${key}\``);
  });
});
