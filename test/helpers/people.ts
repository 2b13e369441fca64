import type { Human } from '@autonomy-os/core';

const person = (id: string, groups: string[]): Human => ({
  id,
  displayName: id,
  groups,
  createdAt: '2026-01-01T00:00:00.000Z',
});

/** An admin (the default `admins` group), as the test organisations seed her: she manages every run. */
export const ADA = person('ada', ['admins']);

/** The owner of the invoices example's workflows, in finance's approvers group. */
export const FIONA = person('fiona', ['approvers:finance']);
