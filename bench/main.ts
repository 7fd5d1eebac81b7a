/**
 * `deno task bench [suite] [--json FILE]`: runs one suite (or all), prints the table, and with
 * `--json` writes DESIGN.md's report format (one report, or a list when several suites ran).
 */
import { machine, printReport, type Report } from "./harness.ts";

/** A suite measures and returns its results and ratios; the harness adds the machine. */
export type BenchSuite = () => Promise<Omit<Report, "machine" | "suite">>;

const SUITES: Record<string, () => Promise<BenchSuite>> = {
  image: () => import("./image.ts").then((m) => m.default),
  quality: () => import("./quality.ts").then((m) => m.default),
  model: () => import("./model.ts").then((m) => m.default),
  protocol: () => import("./protocol.ts").then((m) => m.default),
  attestation: () => import("./attestation.ts").then((m) => m.default),
  runtime: () => import("./runtime.ts").then((m) => m.default),
};

function usage(): string {
  return `usage: deno task bench [${Object.keys(SUITES).join("|")}] [--json FILE]`;
}

async function main(args: string[]): Promise<number> {
  let json: string | undefined;
  const names: string[] = [];
  for (let i = 0; i < args.length; i++) {
    if (args[i] === "--json") {
      json = args[++i];
      if (!json) {
        console.error(`--json needs a file name; ${usage()}`);
        return 2;
      }
    } else if (args[i] in SUITES) names.push(args[i]);
    else {
      console.error(`unknown benchmark "${args[i]}"; ${usage()}`);
      return 2;
    }
  }
  if (names.length === 0) names.push(...Object.keys(SUITES));
  if (names.length === 0) {
    console.error("no benchmark suites are built yet");
    return 2;
  }
  const reports: Report[] = [];
  for (const name of names) {
    const run = await SUITES[name]();
    const report: Report = { suite: name, machine: machine(), ...(await run()) };
    printReport(report);
    reports.push(report);
  }
  if (json) {
    await Deno.writeTextFile(
      json,
      JSON.stringify(reports.length === 1 ? reports[0] : reports, null, 2) + "\n",
    );
  }
  return 0;
}

Deno.exit(await main(Deno.args));
