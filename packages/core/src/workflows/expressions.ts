import jsonata from 'jsonata';

/** Most compiled expressions kept; past it the cache starts over. */
const MAX_COMPILED = 1000;
const compiledExpressions = new Map<string, jsonata.Expression>();

/**
 * The compiled form of a JSONata expression, parsed once: definitions repeat a handful of expressions on every run,
 * and every run start checks its definition's expressions again. Safe to share: each evaluation runs in a frame of
 * its own. Throws on a syntax error (never cached).
 */
export function compileExpression(expr: string): jsonata.Expression {
  let compiled = compiledExpressions.get(expr);
  if (!compiled) {
    compiled = jsonata(expr);
    if (compiledExpressions.size >= MAX_COMPILED) compiledExpressions.clear();
    compiledExpressions.set(expr, compiled);
  }
  return compiled;
}
