// Preloaded into a benchmarked process (node --require): on exit, write its peak resident set size (bytes) to the
// file named by BENCH_RSS_FILE. maxRSS comes from getrusage(2), so it is the true peak, not a sample.
const { writeFileSync } = require('node:fs');

const target = process.env.BENCH_RSS_FILE;
if (target) {
  process.on('exit', () => {
    writeFileSync(target, String(process.resourceUsage().maxRSS * 1024));
  });
}
