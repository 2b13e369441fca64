#!/usr/bin/env node
// Generates docs/configuration-reference.md from the JSON Schema of aos.yaml (docs/aos.schema.json), so the reference
// lists every key the code accepts, with its type, default and limits. A test (test/config-reference.test.ts) fails
// when the page and the schema disagree; `npm run docs:config` rewrites the page.
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as prettier from 'prettier';

const HEADER = `# Configuration reference

Every key of \`aos.yaml\`, generated from its JSON Schema ([aos.schema.json](aos.schema.json), also printed by
\`aos config schema\`) by \`npm run docs:config\`; a test keeps the two in step. What the keys are for, with worked
examples: [configuration.md](configuration.md). Unknown keys are errors, reported with their path.
`;

const code = (v) => `\`${String(v).replace(/\|/g, '\\|')}\``;

/** The type of a schema node, as a reader says it. */
function typeOf(s) {
  if (s.const !== undefined) return code(JSON.stringify(s.const));
  if (s.enum) return s.enum.map((e) => code(JSON.stringify(e))).join(' \\| ');
  if (s.anyOf || s.oneOf) {
    const types = [...new Set(flatVariants(s.anyOf ?? s.oneOf).map(typeOf))];
    return types.join(' or ');
  }
  if (s.type === 'array') return `list of ${s.items ? typeOf(s.items) : 'any'}`;
  if (
    s.type === 'object' &&
    s.additionalProperties &&
    typeof s.additionalProperties === 'object' &&
    !s.properties
  )
    return `map of ${typeOf(s.additionalProperties)}`;
  if (s.type === 'object' && s.propertyNames && !s.properties) return 'map';
  return s.type ?? 'any';
}

/** The limits of a schema node: pattern, range, length, format. */
function limitsOf(s) {
  const out = [];
  if (s.pattern) out.push(`pattern ${code(s.pattern)}`);
  if (s.format) out.push(`format ${s.format}`);
  if (s.minimum !== undefined) out.push(`≥ ${s.minimum}`);
  if (s.exclusiveMinimum !== undefined) out.push(`> ${s.exclusiveMinimum}`);
  if (s.maximum !== undefined) out.push(`≤ ${s.maximum}`);
  if (s.minLength !== undefined && s.minLength > 1) out.push(`length ≥ ${s.minLength}`);
  if (s.minLength === 1) out.push('non-empty');
  if (s.maxLength !== undefined) out.push(`length ≤ ${s.maxLength}`);
  if (s.minItems !== undefined) out.push(`≥ ${s.minItems} item(s)`);
  return out.join(', ');
}

const defaultOf = (s) => (s.default === undefined ? '' : code(JSON.stringify(s.default)));

/** A variant's name from its `const` discriminators (`type: http`, `transport: stdio`). */
function variantName(s) {
  const consts = Object.entries(s.properties ?? {}).filter(([, p]) => p.const !== undefined);
  return consts.map(([k, p]) => `${k}: ${p.const}`).join(', ');
}

/** Rows of one object's properties, recursing into nested objects, lists of objects and variants. */
function rows(schema, prefix, out, sections) {
  const required = new Set(schema.required ?? []);
  for (const [key, s] of Object.entries(schema.properties ?? {})) {
    const at = prefix ? `${prefix}.${key}` : key;
    const variants = s.oneOf ?? s.anyOf;
    const item = s.type === 'array' ? s.items : undefined;
    const itemVariants = item?.oneOf ?? item?.anyOf;
    out.push(
      `| ${code(at)} | ${typeOf(s)} | ${required.has(key) ? 'yes' : ''} | ${defaultOf(s)} | ${limitsOf(s)} |`,
    );
    if (s.type === 'object' && s.properties) rows(s, at, out, sections);
    else if (item?.type === 'object' && item.properties) rows(item, `${at}[]`, out, sections);
    else if (itemVariants) flatVariants(itemVariants).forEach((v) => sections.push({ at: `${at}[]`, v }));
    else if (variants) {
      for (const v of variants) if (v.type === 'object' && v.properties) rows(v, at, out, sections);
    }
    if (s.type === 'object' && s.additionalProperties && typeof s.additionalProperties === 'object') {
      const value = s.additionalProperties;
      if (value.type === 'object' && value.properties) rows(value, `${at}.<name>`, out, sections);
    }
  }
}

function flatVariants(vs) {
  return vs.flatMap((v) => (v.oneOf || v.anyOf ? flatVariants(v.oneOf ?? v.anyOf) : [v]));
}

const TABLE_HEAD = '| key | type | required | default | limits |\n| --- | --- | --- | --- | --- |';

/** Renders the reference page from the schema, formatted as the repository formats Markdown. */
export async function renderConfigReference(schema) {
  const file = fileURLToPath(new URL('../docs/configuration-reference.md', import.meta.url));
  const options = (await prettier.resolveConfig(file)) ?? {};
  return prettier.format(renderMarkdown(schema), { ...options, parser: 'markdown' });
}

function renderMarkdown(schema) {
  const top = [];
  const sections = [];
  rows(schema, '', top, sections);
  const parts = [HEADER, '## Keys', '', TABLE_HEAD, ...top, ''];
  for (const { at, v } of sections) {
    const out = [];
    const nested = [];
    rows(v, at, out, nested);
    parts.push(`## ${code(at)} (${variantName(v)})`, '', TABLE_HEAD, ...out, '');
    for (const n of nested) {
      const more = [];
      rows(n.v, n.at, more, []);
      parts.push(`### ${code(n.at)} (${variantName(n.v)})`, '', TABLE_HEAD, ...more, '');
    }
  }
  return `${parts.join('\n').trimEnd()}\n`;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const schema = JSON.parse(fs.readFileSync(new URL('../docs/aos.schema.json', import.meta.url), 'utf8'));
  fs.writeFileSync(
    new URL('../docs/configuration-reference.md', import.meta.url),
    await renderConfigReference(schema),
  );
  process.stdout.write('wrote docs/configuration-reference.md\n');
}
