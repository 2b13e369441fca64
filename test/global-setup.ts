/** Says plainly, once per run, whether the PostgreSQL suites run or are skipped. */
export default function setup(): void {
  const url = process.env.AOS_TEST_DATABASE_URL;
  if (url) {
    process.stdout.write(`[aos] PostgreSQL suites: running against ${url.replace(/\/\/[^@]*@/, '//***@')}\n`);
  } else {
    process.stdout.write(
      '[aos] PostgreSQL suites: SKIPPED (set AOS_TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test to run them)\n',
    );
  }
}
