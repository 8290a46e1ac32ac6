/**
 * `npm run bench:ccache [-- --series 15 --config defconfig]` (needs Debian's `ccache`)
 *
 * What Debian's ccache would save where hypwatch builds one state after another: one real
 * series of bench/latency-series.json (by index; 15 is the 7-patch "Normalize cache
 * configuration") applied on linux-source-6.1, its base and then each patch built in turn
 * in one build directory, sandboxed like every hypwatch build. Twice, in the same run:
 *  - without ccache, as hypwatch builds today (the baseline);
 *  - with ccache, its cache filled by the base build first, as a cache shared with the
 *    base builds would be, and with each step's compiles.
 * Every build directory and cache is the bench's own, in a scratch pool removed at the end.
 * Prints each step's make time both ways, and ccache's hits and misses at each step.
 */
import { chmod, cp, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import {
  acquireSlot,
  applySeries,
  buildHyp,
  checkoutInSlot,
  ensureTree,
  HYP_TARGETS,
  resetSlot,
  type BuildConfigName,
} from "../src/apply/index.js";
import { cacheRoot } from "../src/apply/tree.js";
import { readConfig } from "../src/config.js";
import { run } from "../src/io/exec.js";
import { gitOk } from "../src/io/git.js";
import { CROSS_COMPILE, DEFAULT_LIMITS, kbuildArgs } from "../src/io/kbuild.js";
import { runSandboxed } from "../src/io/sandbox.js";
import { selectSeries } from "../src/pipeline/select.js";
import { corpusPath, mboxOf, rawMailsById } from "../test/corpus.js";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const { values } = parseArgs({
  options: {
    list: { type: "string", default: path.join(ROOT, "bench", "latency-series.json") },
    series: { type: "string", default: "15" },
    config: { type: "string", default: "defconfig" },
  },
});
const say = (text: string) => process.stdout.write(`${text}\n`);
const secs = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

if ((await run("ccache", ["--version"]).catch(() => null))?.exitCode !== 0) {
  throw new Error("ccache is not installed (apt-get install ccache)");
}
const listed = JSON.parse(await readFile(values.list, "utf8")) as {
  source: string;
  series: { subject: string; coverMessageId: string | null; patches: string[] }[];
};
const chosen = listed.series[Number(values.series)];
if (!chosen) throw new Error(`${values.list}: no series ${values.series}`);
const configName = values.config as BuildConfigName;

const config = readConfig();
const repo = await ensureTree({ tree: config.tree });
const base = (await gitOk(repo, ["rev-parse", "HEAD"])).trim();
// Beside hypwatch's own cache, where the unprivileged build user can reach it.
await mkdir(cacheRoot(), { recursive: true });
const scratch = await mkdtemp(path.join(cacheRoot(), "bench-ccache-"));
await chmod(scratch, 0o755);
const slot = await acquireSlot(repo, base, { cacheDir: path.join(scratch, "pool") });

interface Counters {
  hits: number;
  misses: number;
}

const cacheDir = path.join(scratch, "ccache");
const tmp = path.join(scratch, "tmp");
const logs = path.join(scratch, "logs");

/** The sandbox's /tmp, emptied for the next command. */
async function freshTmp(): Promise<void> {
  await rm(tmp, { recursive: true, force: true });
  await mkdir(tmp, { recursive: true });
}

/** `ccache <args>` in the sandbox, as the user the builds run as (who owns the cache). */
async function ccache(args: string[], log: string): Promise<string> {
  const logPath = path.join(logs, log);
  await freshTmp();
  const result = await runSandboxed("ccache", args, {
    cwd: cacheDir,
    writable: [cacheDir],
    tmpDir: tmp,
    limits: DEFAULT_LIMITS,
    logPath,
    env: { CCACHE_DIR: cacheDir },
  });
  if (result.exitCode !== 0) throw new Error(`ccache ${args.join(" ")} failed: ${logPath}`);
  return readFile(logPath, "utf8");
}

/** ccache's hit and miss counters, from `--print-stats`. */
async function counters(log: string): Promise<Counters> {
  const out = await ccache(["--print-stats"], log);
  const value = (name: string) => Number(new RegExp(`^${name}\\t(\\d+)$`, "m").exec(out)?.[1] ?? 0);
  return {
    hits: value("direct_cache_hit") + value("preprocessed_cache_hit"),
    misses: value("cache_miss"),
  };
}

try {
  const mails = await rawMailsById(corpusPath(listed.source), new Set(chosen.patches));
  const mbox = path.join(scratch, "series.mbox");
  await writeFile(
    mbox,
    mboxOf(chosen.patches.map((id) => mails.get(id)).filter((m): m is Buffer => !!m)),
  );
  const selected = await selectSeries(mbox, config);
  await resetSlot(slot, base);
  const applied = await applySeries(slot.src, selected.patches);
  if (!applied.complete) throw new Error(`${chosen.subject}: does not apply to ${base}`);
  const commits = [base, ...applied.patches.flatMap((p) => (p.applied ? [p.commit] : []))];
  say(`${chosen.subject}: ${commits.length - 1} patches on ${base.slice(0, 12)}, ${configName}`);

  // Without ccache: hypwatch's own build, base first (configured and built cold).
  await checkoutInSlot(slot, base);
  const prime = await buildHyp(slot, configName);
  if (!prime.ok) throw new Error(`base build failed: ${prime.logPath}`);
  // The ccache build directory starts from the same configured, built base.
  const cachedDir = path.join(scratch, "ccache-build");
  await cp(prime.buildDir, cachedDir, { recursive: true, verbatimSymlinks: true });
  const plain: number[] = [];
  for (const commit of commits.slice(1)) {
    await checkoutInSlot(slot, commit);
    const built = await buildHyp(slot, configName);
    if (!built.ok) throw new Error(`build at ${commit} failed: ${built.logPath}`);
    plain.push(built.durationMs);
  }

  // With ccache, in the sandbox, the cache writable to it.
  await mkdir(cacheDir, { recursive: true });
  const cc = `ccache ${CROSS_COMPILE}gcc`;
  const cachedMake = async (commit: string) => {
    await checkoutInSlot(slot, commit);
    await ccache(["--zero-stats"], `${commit.slice(0, 12)}.zero.log`);
    await freshTmp();
    const result = await runSandboxed(
      "make",
      [
        ...kbuildArgs(
          { srcDir: slot.src, buildDir: cachedDir, limits: DEFAULT_LIMITS },
          HYP_TARGETS.modern,
        ),
        `CC=${cc}`,
      ],
      {
        cwd: cachedDir,
        writable: [cachedDir, cacheDir],
        readable: [slot.src],
        tmpDir: tmp,
        limits: DEFAULT_LIMITS,
        logPath: path.join(logs, `${commit.slice(0, 12)}.log`),
        env: { CCACHE_DIR: cacheDir, CCACHE_TEMPDIR: "/tmp" },
      },
    );
    if (result.exitCode !== 0)
      throw new Error(`ccache build at ${commit} failed: ${result.logPath}`);
    return { ms: result.durationMs, ...(await counters(`${commit.slice(0, 12)}.stats.log`)) };
  };
  const filled = await cachedMake(base);
  say(
    `base: ${secs(prime.durationMs)} cold without ccache; ${secs(filled.ms)} with ccache, filling it (${filled.misses} misses)`,
  );
  say("patch  without ccache  with ccache  ccache hits/misses");
  let cachedTotal = 0;
  for (const [i, commit] of commits.slice(1).entries()) {
    const step = await cachedMake(commit);
    cachedTotal += step.ms;
    say(
      `${String(i + 1).padStart(5)}  ${secs(plain[i] ?? 0).padStart(14)}  ${secs(step.ms).padStart(11)}  ${step.hits}/${step.misses}`,
    );
  }
  say(
    `every step: ${secs(plain.reduce((a, b) => a + b, 0))} without ccache, ${secs(cachedTotal)} with ccache`,
  );
} finally {
  await slot.release();
  await rm(scratch, { recursive: true, force: true });
}
