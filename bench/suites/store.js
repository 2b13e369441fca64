// Store: transactions per second when 32 callers each commit small transactions at once (group commit's case),
// against one caller committing the same transactions one after another, on each backend.
import { backends, concurrentPerSecond, opsPerSecond } from '../harness.js';

export const name = 'store';

export async function run({ quick }) {
  const results = [];
  const n = quick ? 2000 : 20_000;
  const clients = 32;
  for (const backend of await backends()) {
    const { store, cleanup } = await backend.open();
    try {
      await store.db.exec('CREATE TABLE bench_tx (id BIGINT PRIMARY KEY, payload TEXT)');
      let id = 0;
      const small = () =>
        store.db.tx(async (tx) => {
          const k = ++id;
          await tx.run('INSERT INTO bench_tx (id, payload) VALUES (?, ?)', [k, `row ${k}`]);
          await tx.get('SELECT payload FROM bench_tx WHERE id = ?', [k]);
        });
      const serial = await opsPerSecond(quick ? 200 : 2000, small);
      const concurrent = await concurrentPerSecond(n, clients, small);
      results.push(
        {
          suite: name,
          backend: backend.name,
          metric: 'small tx, one caller (baseline), commits/s',
          value: serial,
        },
        {
          suite: name,
          backend: backend.name,
          metric: `small tx, ${clients} concurrent callers, commits/s`,
          value: concurrent,
          ratio: concurrent / serial,
          note: 'insert + read back per tx; each resolved only after its COMMIT',
        },
      );
    } finally {
      await cleanup();
    }
  }
  return results;
}
