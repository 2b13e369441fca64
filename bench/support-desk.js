// The example support-desk organisation for the benchmarks: its config and policies (examples/support-desk/), and
// its payments upstream on a free 127.0.0.1 port. Mirrors test/helpers/support-desk.ts for plain ESM.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import { metadataFromAnnotations, parseConfig } from '@autonomy-os/core';
import { createPaymentsServer } from '../examples/support-desk/payments-server.mjs';

export const SUPPORT_DESK = fileURLToPath(new URL('../examples/support-desk/', import.meta.url));
export const POLICIES = path.join(SUPPORT_DESK, 'policies');
export const PAYMENTS_KEY = 'sk_test_payments_key_0000000000';

/** The payments upstream, listening on a free 127.0.0.1 port: { url, state, close() }. */
export async function startPayments() {
  const { server, state } = createPaymentsServer({ apiKey: PAYMENTS_KEY });
  server.keepAliveTimeout = 30_000;
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    state,
    close: () =>
      new Promise((r) => {
        server.closeAllConnections?.();
        server.close(() => r());
      }),
  };
}

/** The example's aos.yaml, pointed at `paymentsUrl`, with optional changes to the raw object before parsing. */
export function supportDeskConfig(paymentsUrl = 'http://127.0.0.1:7431', patch = () => undefined) {
  const text = fs
    .readFileSync(path.join(SUPPORT_DESK, 'aos.yaml'), 'utf8')
    .replaceAll('http://127.0.0.1:7431', paymentsUrl);
  const raw = parseYaml(text);
  raw.policies = POLICIES;
  patch(raw);
  return parseConfig(raw);
}

const METADATA_FIELDS = ['effect', 'destructive', 'idempotent', 'untrustedOutput', 'risk'];

/** `{ name, connector, metadata }` of a configured HTTP operation, as the tool registry derives it. */
export function toolOf(config, name) {
  for (const c of config.connectors) {
    for (const op of c.operations ?? []) {
      if (`${c.id}.${op.name}` !== name) continue;
      const conf = config.tools[name] ?? {};
      const override = Object.fromEntries(
        METADATA_FIELDS.filter((k) => conf[k] !== undefined).map((k) => [k, conf[k]]),
      );
      const metadata = metadataFromAnnotations(op.annotations, override);
      // Policies see only the arguments a tool declares, converted by its schema, as in the engine.
      return { name, connector: c.id, metadata, inputSchema: op.inputSchema };
    }
  }
  throw new Error(`the support-desk config has no tool ${name}`);
}

/**
 * `count` Cedar policies about other teams' tools (one forbid in 20, the rest permits on `svc<i>.op`), so a set
 * costs what it would in a real organisation: none of them matches a support agent's call, every one is evaluated.
 */
export function otherTeamPolicies(count) {
  const texts = [];
  for (let i = 0; i < count; i++) {
    texts.push(
      i % 20 === 19
        ? `@id("team-${i}-guard")\nforbid (principal, action in Action::"write", resource) when { principal.owner == "left-${i}" };`
        : `@id("team-${i}")\npermit (principal in Role::"team-${i % 37}", action == Action::"svc${i}.op", resource) when { context.risk < 80 };`,
    );
  }
  return texts;
}

/**
 * A temporary copy of the example's policy directory grown to `size` permit/forbid policies (see otherTeamPolicies):
 * `{ dir, cleanup() }`.
 */
export function sizedPolicyDirectory(size) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'aos-bench-policies-'));
  fs.cpSync(POLICIES, dir, { recursive: true });
  const own = fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.cedar'))
    .reduce(
      (sum, f) =>
        sum + (fs.readFileSync(path.join(dir, f), 'utf8').match(/^\s*(permit|forbid)\s*\(/gm) ?? []).length,
      0,
    );
  fs.writeFileSync(path.join(dir, 'other-teams.cedar'), otherTeamPolicies(size - own).join('\n'));
  return { dir, cleanup: () => fs.rmSync(dir, { recursive: true, force: true }) };
}
