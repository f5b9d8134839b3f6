// Prints jest's totals as the plain closing line "N passed, N failed[, N skipped]" that CI reads.
class SummaryReporter {
  onRunComplete(_contexts, results) {
    const skipped = results.numPendingTests + results.numTodoTests;
    const failed = results.numFailedTests + results.numRuntimeErrorTestSuites;
    // npm test (scripts/test.sh) runs jest twice and prints the sum of both runs' totals instead.
    if (process.env.SO_BACKUP_TEST_TOTALS) {
      require('node:fs').writeFileSync(
        process.env.SO_BACKUP_TEST_TOTALS,
        JSON.stringify({ passed: results.numPassedTests, failed, skipped }),
      );
      return;
    }
    process.stdout.write(`\n${results.numPassedTests} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}\n`);
  }
}
module.exports = SummaryReporter;
