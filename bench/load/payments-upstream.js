// The support-desk payments upstream in a process of its own (the gateway suite's upstream): listens on a free
// 127.0.0.1 port and prints `{"url"}` on its first stdout line. Stops when its stdin closes.
import { startPayments } from '../support-desk.js';

const payments = await startPayments();
process.stdout.write(`${JSON.stringify({ url: payments.url })}\n`);
process.stdin.resume();
process.stdin.on('end', () => {
  void payments.close().then(() => process.exit(0));
});
