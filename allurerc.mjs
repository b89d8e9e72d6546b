// Allure 3 configuration of the Apex revenue acceptance report. Build the report with
// `./run report` (tools/report/make-report); README, "Reading the report", says what it shows.
//
// No `import { defineConfig } from "allure"`: the allure package lives in tools/report/node_modules,
// which Node does not search from the repository root, and defineConfig only returns its argument.
// make-report passes its options through the APEX_REPORT_* variables read below.

import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

const env = process.env;
const resultsDir = env.APEX_REPORT_RESULTS ?? "./allure-results";

/** Failed or broken results of features with an MRR label ("$347,000"): every product feature. */
const onRevenue = { statuses: ["failed", "broken"], labels: { mrr: /^\$\d{1,3}(,\d{3})*$/ } };
/** A breach is a failed expectation (the product misbehaved), not a broken test (an error). */
const breach = { ...onRevenue, statuses: ["failed"] };
const breachWith = (name, pattern) => ({ ...breach, labels: { ...breach.labels, [name]: pattern } });
/**
 * Every category groups its results by feature, whose label names the capability, its MRR in
 * dollars and its verdict ("Agent runs · $200,000 MRR · at risk", harness/reporting/
 * allure_formatter.py), then by failure message, which says in the feature's words what was
 * expected and what happened.
 */
const byRevenue = [{ label: "feature" }];

/**
 * The run's revenue summary, read back from the "Revenue summary" global attachment that the
 * suite writes at the end of every run (harness/reporting/revenue.py, render_markdown), so the
 * figures shown always come from the same run as the results. Shown as the overview's Variables.
 */
function revenueVariables(folder) {
  let markdown;
  try {
    for (const file of readdirSync(folder).filter((name) => name.endsWith("-globals.json"))) {
      const globals = JSON.parse(readFileSync(join(folder, file), "utf8"));
      const found = (globals.attachments ?? []).find((a) => a.name === "Revenue summary");
      if (found) markdown = readFileSync(join(folder, found.source), "utf8");
    }
  } catch {
    // An unreadable or missing results folder: allure itself reports that.
  }
  if (markdown === undefined) {
    return { "Revenue summary": "missing: the run ended before writing it" };
  }
  const totals = {};
  for (const [, name, amount] of markdown.matchAll(/^\*\*(MRR [a-z ]+):\*\* (\$[\d,]+)/gm)) {
    totals[name] = amount;
  }
  // Short names: the overview gives a variable's name about 16 characters.
  const variables = {
    "MRR at risk": totals["MRR at risk"],
    "MRR protected": totals["MRR protected"],
    "MRR not run": totals["MRR not run"],
  };
  const phaseRow = /^\| (Phase \d+): [^|]+? \| (\$[\d,]+) \| (\$[\d,]+) \| (\$[\d,]+) \|$/gm;
  for (const [, phase, kept, atRisk, notRun] of markdown.matchAll(phaseRow)) {
    variables[`${phase} at risk`] = atRisk;
    variables[`${phase} protected`] = kept;
    if (notRun !== "$0") variables[`${phase} not run`] = notRun;
  }
  return variables;
}

export default {
  name: "Apex revenue acceptance",
  resultsDir,
  output: env.APEX_REPORT_OUTPUT ?? "./allure-report",
  // JSONL, one line per generated report: trends and each test's history come from it.
  historyPath: env.APEX_REPORT_HISTORY ?? "./.allure/history.jsonl",
  historyLimit: 50,
  variables: revenueVariables(resultsDir),
  // A failed or broken result falls in the first category it matches: the specific ones come
  // first, and "Revenue at risk" takes every other product failure.
  categories: [
    {
      name: "Infrastructure (hook and service errors)",
      matchers: [
        { statuses: ["failed", "broken"], message: /^HOOK-ERROR/ },
        { statuses: ["failed", "broken"], message: /\bdid not start\b/ },
      ],
      groupBy: byRevenue,
      expand: true,
    },
    {
      name: "Tenant isolation breach",
      matchers: [
        breachWith("feature", /isolation/i),
        breachWith("story", /isolat|another tenant/i),
        { ...breach, message: /cross-tenant|another tenant|tenant isolation/i },
      ],
      groupBy: byRevenue,
      expand: true,
    },
    {
      name: "SLA breach",
      matchers: [
        breachWith("story", /\bSLA\b|\bwithin \d/i),
        { ...breach, message: /\bSLA\b|\bp9[059]\b|latency|too slow/i },
      ],
      groupBy: byRevenue,
      expand: true,
    },
    { name: "Revenue at risk", matchers: onRevenue, groupBy: byRevenue, expand: true },
  ],
  plugins: {
    awesome: {
      options: {
        reportName: "Apex revenue acceptance",
        singleFile: env.APEX_REPORT_SINGLE_FILE === "1",
        // Phase, then each capability with its MRR and verdict, then business rule;
        // `./run report --group-by mrr` for the tree by MRR at stake (make-report adds the
        // feature level, so capabilities with the same MRR stay apart).
        groupBy: (env.APEX_REPORT_GROUP_BY ?? "epic,feature,story").split(",").filter(Boolean),
      },
    },
  },
};
