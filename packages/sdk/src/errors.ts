/** An error answer from the Autonomy OS API. `status` is the HTTP status; `code` and `field` come from the body. */
export class AosApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly field: string | undefined;

  constructor(
    status: number,
    body: { error?: { code?: string; message?: string; field?: string } } | undefined,
  ) {
    super(body?.error?.message ?? `HTTP ${status}`);
    this.name = new.target.name;
    this.status = status;
    this.code = body?.error?.code ?? `http_${status}`;
    this.field = body?.error?.field;
  }
}
