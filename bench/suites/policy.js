// Policy decisions: latency (p50/p99, µs) and decisions/s of `decide()` with the support-desk example's policies on a
// realistic mix of requests, against a baseline measured in the same run: the same Cedar requests and entities
// (built by `buildCedarRequest`) decided by cedar-wasm, the reference Cedar implementation. cedar-wasm runs in this
// process for a bounded number of calls only (it has crashed Node 20 under sustained load); if it throws, the
// baseline is reported as failed and our own figures still stand.
import * as cedar from '@cedar-policy/cedar-wasm/nodejs';
import fs from 'node:fs';
import path from 'node:path';
import {
  buildCedarRequest,
  decide,
  isAuthorized,
  loadPolicyDirectory,
  policyBundleFromTexts,
  riskScore,
} from '@autonomy-os/core';
import { latenciesSync } from '../harness.js';
import { POLICIES, otherTeamPolicies, supportDeskConfig, toolOf } from '../support-desk.js';

export const name = 'policy';

const agent = {
  id: 'refund-bot',
  role: 'support',
  tier: 2,
  owner: 'fiona',
  environments: ['dev', 'staging'],
};
const session = { tools: ['payments.get_order'], readUntrusted: false, calls: 1 };

/** The mix: what a support agent mostly does, and the ways it is stopped. */
function requestMix(config) {
  const at = (tool, input, expected) => ({
    expected,
    d: { agent, tool: toolOf(config, tool), input, environment: 'dev', reason: 'customer asked', session },
  });
  return [
    at('payments.get_order', { orderId: 'o-1001' }, 'allow'), // read, allowed
    at('payments.get_order', { orderId: 'o-1002' }, 'allow'),
    at('payments.refund', { orderId: 'o-1001', amount: 40, note: 'late' }, 'allow'), // small refund, allowed
    at('payments.refund', { orderId: 'o-1003', amount: 250 }, 'approval'), // large refund, needs finance
    at('payments.delete_customer', { customerId: 'c-42' }, 'deny'), // forbidden tool
    at('payments.refund', { orderId: 'o-1004', amount: 900 }, 'deny'), // over every permit: default deny
  ];
}

/** The Cedar calls `decide()` makes for one request: the permit/forbid set, then (if permitted) the approval set. */
function cedarCalls(d, options) {
  const production = options.productionEnvironments.includes(d.environment);
  return buildCedarRequest(d, riskScore(d, production), production);
}

export async function run({ quick }) {
  const config = supportDeskConfig();
  const bundle = loadPolicyDirectory(POLICIES);
  const options = {
    productionEnvironments: config.productionEnvironments,
    defaultApprovalGroup: config.approvals.defaultGroup,
    defaultExpirySec: 3600,
  };
  const mix = requestMix(config);
  for (const { d, expected } of mix) {
    const got = decide(d, bundle, options).outcome;
    if (got !== expected) throw new Error(`bench mix: ${d.tool.name} decided ${got}, expected ${expected}`);
  }
  const prepared = mix.map(({ d }) => cedarCalls(d, options));
  const ours = quick ? 10_000 : 200_000;
  // cedar-wasm calls are capped: a few thousand in all (each decision is one or two calls).
  const wasmDecisions = quick ? 200 : 1200;
  const results = [];
  const row = (metric, value, extra = {}) =>
    results.push({
      suite: name,
      backend: '-',
      metric,
      value,
      ...Object.fromEntries(Object.entries(extra).filter(([, v]) => v !== undefined)),
    });

  // Ours: the whole decision (built-in rules, risk, request building, both Cedar sets, receipts).
  const decideOnce = (i) => decide(mix[i % mix.length].d, bundle, options);
  latenciesSync(5000, decideOnce); // warm up
  const dec = latenciesSync(ours, decideOnce);
  // Ours, like for like with the baseline: only the Cedar calls on prebuilt requests.
  const evalOnce = (i) => {
    const { request, entities } = prepared[i % prepared.length];
    if (isAuthorized(bundle.permits, request, entities).decision === 'allow') {
      isAuthorized(bundle.approvals, request, entities);
    }
  };
  latenciesSync(5000, evalOnce);
  const ev = latenciesSync(ours, evalOnce);

  // Baseline: cedar-wasm on the same requests and entities, policies passed per call as `isAuthorized` takes them
  // (in Cedar's JSON policy format, ids as ours), and preparsed once for `statefulIsAuthorized`.
  const asStatic = (set) => Object.fromEntries(set.policies.map((p) => [p.id, p.est]));
  const permitsJson = { staticPolicies: asStatic(bundle.permits) };
  const approvalsJson = { staticPolicies: asStatic(bundle.approvals) };
  let wasm;
  let wasmStateful;
  let wasmCalls = 0;
  let agreement = '';
  try {
    const answer = (a) => {
      wasmCalls++;
      if (a.type === 'failure') throw new Error(a.errors.map((e) => e.message).join('; '));
      return a.response;
    };
    const plain = (policies, { request, entities }) =>
      answer(cedar.isAuthorized({ ...request, policies, entities }));
    for (const [id, set] of [
      ['bench-permits', permitsJson],
      ['bench-approvals', approvalsJson],
    ]) {
      const a = cedar.preparsePolicySet(id, set);
      if (a.type === 'failure') throw new Error(a.errors.map((e) => e.message).join('; '));
    }
    const stateful = (id, { request, entities }) =>
      answer(cedar.statefulIsAuthorized({ ...request, preparsedPolicySetId: id, entities }));

    // The reference must agree with our evaluator on every request in the mix before its speed means anything.
    prepared.forEach((p, i) => {
      const ref = plain(permitsJson, p);
      const mine = isAuthorized(bundle.permits, p.request, p.entities);
      const same = (x, y) => [...x].sort().join() === [...y].sort().join();
      if (ref.decision !== mine.decision || !same(ref.diagnostics.reason, mine.determining)) {
        throw new Error(`cedar-wasm disagrees on ${mix[i].d.tool.name}: ${JSON.stringify(ref)}`);
      }
    });
    agreement = `agrees with ours on all ${mix.length} requests`;

    const wasmOnce = (i) => {
      const p = prepared[i % prepared.length];
      if (plain(permitsJson, p).decision === 'allow') plain(approvalsJson, p);
    };
    const statefulOnce = (i) => {
      const p = prepared[i % prepared.length];
      if (stateful('bench-permits', p).decision === 'allow') stateful('bench-approvals', p);
    };
    latenciesSync(50, wasmOnce);
    wasm = latenciesSync(wasmDecisions, wasmOnce);
    latenciesSync(50, statefulOnce);
    wasmStateful = latenciesSync(wasmDecisions, statefulOnce);
  } catch (err) {
    row('cedar-wasm baseline', 'failed', { note: `after ${wasmCalls} calls: ${err.message}`.slice(0, 200) });
  }

  const mixNote = `mix of ${mix.length}: 2 reads, small refund, large refund (approval), forbidden tool, default deny`;
  if (wasm) {
    row('cedar-wasm isAuthorized (baseline), decisions/s', wasm.perSecond, {
      note: `${wasmDecisions} decisions, ${wasmCalls} calls in all; ${agreement}`,
    });
    row('cedar-wasm isAuthorized (baseline), p50 µs', wasm.p50);
    row('cedar-wasm isAuthorized (baseline), p99 µs', wasm.p99);
    row('cedar-wasm preparsed (statefulIsAuthorized), decisions/s', wasmStateful.perSecond, {
      ratio: wasmStateful.perSecond / wasm.perSecond,
      note: 'policy set parsed once',
    });
  }
  const vs = (x) => (wasm ? { ratio: x / wasm.perSecond } : {});
  const fasterThan = (base, mine) =>
    base ? `${(base.p50 / mine.p50).toFixed(1)}x faster than the baseline at p50` : undefined;
  row('decide(), decisions/s', dec.perSecond, {
    ...vs(dec.perSecond),
    note: wasmStateful
      ? `${(dec.perSecond / wasmStateful.perSecond).toFixed(1)}x preparsed cedar-wasm; ${mixNote}`
      : mixNote,
  });
  row('decide(), p50 µs', dec.p50, { note: fasterThan(wasm, dec) });
  row('decide(), p99 µs', dec.p99, { note: wasm ? `baseline p99 ${Math.round(wasm.p99)} µs` : undefined });
  row('our Cedar evaluator only, decisions/s', ev.perSecond, {
    ...vs(ev.perSecond),
    note: wasmStateful
      ? `same calls as the baseline; ${(ev.perSecond / wasmStateful.perSecond).toFixed(1)}x preparsed cedar-wasm`
      : 'same calls as the baseline',
  });
  row('our Cedar evaluator only, p50 µs', ev.p50, { note: fasterThan(wasm, ev) });

  // decide() as the policy set grows: the example's policies plus other teams' (each names its own tools, 1 in 20 a
  // cross-cutting forbid on every write), on the same mix. The 20-policy set is the baseline of the larger ones.
  let base20;
  for (const size of [20, 100, 1000]) {
    const sized = sizedBundle(bundle, size);
    const once = (i) => decide(mix[i % mix.length].d, sized, options);
    for (const { d, expected } of mix) {
      if (decide(d, sized, options).outcome !== expected)
        throw new Error(`bench ${size} policies: ${d.tool.name}`);
    }
    latenciesSync(2000, once);
    const r = latenciesSync(quick ? 3_000 : 100_000, once);
    base20 ??= r;
    const us = (x) => `${x.toFixed(1)} µs`;
    row(`decide() at ${size} policies, p99 µs`, r.p99, {
      ratio: size === 20 ? undefined : r.p99 / base20.p99,
      note: `p50 ${us(r.p50)}; ${size === 20 ? 'baseline of the larger sets' : 'ratio: p99 vs 20 policies'}`,
    });
  }
  return results;
}

/** The example's bundle grown to `size` permit/forbid policies with policies about other teams' tools. */
function sizedBundle(bundle, size) {
  const texts = otherTeamPolicies(size - bundle.permits.policies.length);
  const policies = bundle.source;
  const read = (dir) =>
    fs
      .readdirSync(dir)
      .filter((f) => f.endsWith('.cedar'))
      .map((f) => ({ file: f, text: fs.readFileSync(path.join(dir, f), 'utf8') }));
  return policyBundleFromTexts(
    [...read(policies), { file: 'other-teams.cedar', text: texts.join('\n') }],
    read(path.join(policies, 'approvals')),
    `${policies} + ${texts.length} more`,
  );
}
