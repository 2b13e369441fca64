// Deterministic rule agents for the invoice workflow: no model, no side effects (effects are action steps).

/** Extracts the invoice fields from the incoming document. A critique asking for a currency makes it default one. */
function extract({ input, critique }) {
  const doc = input.document ?? {};
  const currency = doc.currency ?? (critique ? 'EUR' : undefined);
  return {
    invoiceId: String(doc.number ?? input.invoiceId),
    vendor: String(doc.vendor ?? 'unknown'),
    amount: Number(doc.total),
    ...(currency ? { currency } : {}),
  };
}

/** The critic: an invoice needs a positive amount, a known vendor and a currency. */
function critic({ input }) {
  if (!(input.amount > 0)) return { accept: false, critique: 'amount must be positive' };
  if (input.vendor === 'unknown') return { accept: false, critique: 'vendor missing' };
  if (!input.currency) return { accept: false, critique: 'currency missing' };
  return { accept: true };
}

export const rules = { 'invoice-extract': extract, 'invoice-critic': critic };
