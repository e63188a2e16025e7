/**
 * Declares an isolation case as a mocha test: runs it (a fresh stage and daemon each time), prints its report line
 * with the observed figures, keeps the report for the suite's summary (and for ISOLATION_REPORT, a JSON file), and
 * fails with every violation it saw.
 */
import { writeFileSync } from 'node:fs';
import { formatReport, runCase, type CaseReport, type IsolationCase } from './case.js';

const reports: CaseReport[] = [];

export function isolationCase(c: IsolationCase): void {
  it(`class ${c.id}: ${c.title}`, async function () {
    const report = await runCase(c);
    reports.push(report);
    console.log(formatReport(report));
    if (report.violations.length > 0) throw new Error(`class ${c.id} (${c.title}) broke the isolation property:\n  ${report.violations.join('\n  ')}`);
  });
}

after(function () {
  if (reports.length === 0) return;
  const file = process.env['ISOLATION_REPORT'];
  if (file !== undefined && file !== '') writeFileSync(file, `${JSON.stringify(reports, null, 2)}\n`);
});
