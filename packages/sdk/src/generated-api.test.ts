import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { GENERATED, renderSdkTypes } from '../../../scripts/sdk-types.mjs';

describe('the generated API types', () => {
  it('are exactly what `npm run sdk:types` generates from the server OpenAPI document now', async () => {
    const fresh = (await renderSdkTypes()) as string;
    expect(fresh).toContain('AgentRecord: {');
    expect(fs.readFileSync(GENERATED as string, 'utf8')).toBe(fresh);
  });
});
