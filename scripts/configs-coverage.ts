/**
 * `npm run configs:coverage -- [--tree DIR] [--cache DIR] [--configs a,b] [--no-build]
 *   [--derive] [--max-configs N] [--json FILE]`
 *
 * The coverage figure of the build configurations (docs/check.md, Configurations): the
 * Kconfig options the hyp build depends on (what Kbuild's `.cmd` files of the hyp objects
 * and the hyp Makefiles name, over every configuration's build), and how many of them are
 * `=y` in at least one configuration hypwatch builds; then the options never on, with why.
 *
 * Each configuration is built (incrementally, one at a time) in a slot of its own cache
 * (default `<cache>/configs-bench`) unless `--no-build`, which reads what is there.
 *
 * `--derive` also writes src/apply/option-configs.ts: the extra configurations, found by
 * configuring (not building) candidates: the first asks for every bool/tristate option the
 * hyp build tests that defconfig leaves off (and what they depend on), and keeps what
 * olddefconfig keeps; each next
 * configuration picks, of each choice, a member no configuration had yet (page size,
 * endianness, KASAN mode, ...) and turns off what kept options off before it (`depends on
 * !FOO`); a trial that turns on nothing new is dropped. At most `--max-configs` (2): each
 * one costs a build per step of a check.
 */
import { chmod, mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { parseArgs } from "node:util";
import { format } from "prettier";
import {
  acquireSlot,
  BUILD_CONFIGS,
  buildHyp,
  cacheRoot,
  ensureTree,
  resetSlot,
  type BuildConfigName,
  type Slot,
} from "../src/apply/index.js";
import { optionConfigEdits, trialConfigure } from "../src/apply/build.js";
import { arm64KconfigSymbols, hypBuildOptions, unionHypOptions } from "../src/apply/hyp-options.js";
import {
  blockers,
  choicePicks,
  dependencyClosure,
  optionCoverage,
  parseDotConfig,
  type CoverageSummary,
  type KconfigSymbol,
  type OffReason,
} from "../src/apply/kconfig.js";
import { OPTION_CONFIGS, type OptionConfigDef } from "../src/apply/option-configs.js";
import { compilerVersion } from "../src/io/kbuild.js";
import { gitOk } from "../src/io/git.js";
import { readUntrustedFile } from "../src/io/untrusted.js";
import { readConfig } from "../src/config.js";
import { DEFAULT_CONFIGS } from "../src/pipeline/check.js";

const ALL = Object.keys(BUILD_CONFIGS) as BuildConfigName[];
const { values } = parseArgs({
  options: {
    tree: { type: "string" },
    cache: { type: "string", default: path.join(cacheRoot(), "configs-bench") },
    configs: { type: "string" },
    "no-build": { type: "boolean", default: false },
    derive: { type: "boolean", default: false },
    "max-configs": { type: "string", default: "2" },
    json: { type: "string" },
  },
});

const GENERATED = path.join(import.meta.dirname, "../src/apply/option-configs.ts");
/** What the generated configurations never ask for, and why. */
const NEVER_REQUESTED: Record<string, string> = {
  // The analysis needs full DWARF for file:line and inline chains (DEBUG_EDITS).
  DEBUG_INFO_NONE: "keeps the debug info the analysis reads",
  DEBUG_INFO_REDUCED: "keeps the debug info the analysis reads",
  DEBUG_INFO_SPLIT: "keeps the debug info the analysis reads",
};

interface ConfigData {
  name: string;
  values: Map<string, string>;
}

async function configsOf(slot: Slot, names: readonly BuildConfigName[]) {
  const options = [];
  const configs: ConfigData[] = [];
  for (const name of names) {
    const buildDir = path.join(slot.buildRoot, name);
    if (!values["no-build"]) {
      const started = Date.now();
      const result = await buildHyp(slot, name);
      console.error(
        `${name}: ${result.ok ? "built" : "BUILD FAILED"} in ${((Date.now() - started) / 1000).toFixed(1)} s` +
          `${result.incremental ? " (incremental)" : " (cold)"}; log ${result.logPath}`,
      );
    }
    const dotConfig = await readUntrustedFile(path.join(buildDir, ".config"), 4 * 1024 ** 2).catch(
      () => null,
    );
    if (dotConfig === null) {
      console.error(`${name}: no build in ${buildDir} (left out)`);
      continue;
    }
    configs.push({ name, values: parseDotConfig(dotConfig) });
    options.push(await hypBuildOptions(slot.src, buildDir));
  }
  return { configs, options: unionHypOptions(options) };
}

const REASONS: Record<OffReason, string> = {
  "not-defined": "no arm64 Kconfig file defines it (another architecture's, or a name only tested)",
  "no-prompt":
    "no prompt: only a select or a default turns it on, and nothing on arm64 does (often another architecture's)",
  choice: "a choice member: the configurations picked another member",
  dependencies: "its dependencies are not met in any configuration (left out of every .config)",
  "not-requested": "possible, but no configuration asks for it",
};

function printCoverage(title: string, summary: CoverageSummary, names: readonly string[]) {
  console.log(
    `${title} (${names.join(", ")}): ${summary.on} of ${summary.switchable} bool/tristate options on ` +
      `(${((100 * summary.on) / Math.max(1, summary.switchable)).toFixed(0)}%)`,
  );
}

function printNeverOn(summary: CoverageSummary) {
  const byReason = new Map<OffReason, string[]>();
  for (const o of summary.options)
    if (o.off && o.onIn.length === 0) byReason.set(o.off, [...(byReason.get(o.off) ?? []), o.name]);
  for (const [reason, names] of byReason) {
    console.log(`\nnever on, ${REASONS[reason]} (${names.length}):`);
    console.log(`  ${names.join(" ")}`);
  }
}

interface DerivedConfig {
  name: string;
  reason: string;
  disable: string[];
  enable: string[];
  /** What the trial kept on: the options the configuration verifies. */
  verify: string[];
  /** Of those, the hyp build's options on in no earlier configuration. */
  adds: string[];
}

const roundName = (round: number) => (round === 1 ? "hyp-options" : `hyp-options-${round}`);

async function derive(
  slot: Slot,
  union: ReadonlyMap<string, string[]>,
  symbols: ReadonlyMap<string, KconfigSymbol>,
  existing: readonly ConfigData[],
): Promise<{ derived: DerivedConfig[]; trials: ConfigData[] }> {
  const defconfig = existing.find((c) => c.name === "defconfig");
  if (!defconfig) throw new Error("--derive needs the defconfig build");
  const wanted = (o: string) => defconfig.values.get(o) !== "y" && !(o in NEVER_REQUESTED);
  const candidates = [...union.keys()]
    .filter((o) => {
      const s = symbols.get(o);
      return s?.prompt && (s.type === "bool" || s.type === "tristate");
    })
    .filter(wanted);
  // What the candidates need on to be visible at all, asked for with them.
  const asked = dependencyClosure(candidates, symbols, wanted);
  const helpers = asked.filter((o) => !union.has(o));
  console.error(
    `${candidates.length} option(s) to turn on, and ${helpers.length} they depend on: ${helpers.join(" ")}`,
  );
  const reached = new Set(
    [...union.keys()].filter((o) => existing.some((c) => c.values.get(o) === "y")),
  );
  const derived: DerivedConfig[] = [];
  const trials: ConfigData[] = [];
  // The options some .config lists (their dependencies can be met there), and choice
  // members a configuration picked that Kconfig still refused.
  const visible = new Set<string>();
  for (const c of existing) for (const o of c.values.keys()) visible.add(o);
  const refused = new Set<string>();
  const isChoice = (o: string) => symbols.get(o)?.choice != null;
  let previous: ReadonlyMap<string, string> | null = null;
  const maxConfigs = Number(values["max-configs"]);
  for (let round = 1; round <= 3 * maxConfigs && derived.length < maxConfigs; round++) {
    const pending = candidates.filter((o) => !reached.has(o));
    // What kept pending options off last time (`depends on !FOO` with FOO on), off; a
    // choice member that needs one of them on waits for a later configuration.
    const blocked = previous
      ? blockers(pending, previous, symbols).filter((o) => symbols.get(o)?.prompt)
      : [];
    // One member per choice that no configuration had yet, its rivals off. A member is worth
    // picking when Kconfig can show it: what it depends on is listed in some .config, or is
    // itself a choice member picked with it.
    const pickable = (o: string) =>
      !refused.has(o) &&
      (symbols.get(o)?.depends ?? []).every((d) => visible.has(d) || isChoice(d)) &&
      !dependencyClosure([o], symbols).some((d) => blocked.includes(d));
    const { picks, rivals } = choicePicks(
      pending.filter((o) => isChoice(o) && pickable(o)),
      symbols,
      (o) => union.get(o)?.length ?? 0,
    );
    const needed = dependencyClosure(picks, symbols);
    const disable = [...new Set([...rivals, ...blocked])].filter((o) => !needed.includes(o)).sort();
    const enable = asked.filter(
      (o) => (!isChoice(o) || needed.includes(o)) && !disable.includes(o),
    );
    const name = roundName(derived.length + 1);
    const dotConfig = parseDotConfig(
      await trialConfigure(slot, "gcc", optionConfigEdits({ disable, enable }), name),
    );
    previous = dotConfig;
    const verify = enable.filter((o) => dotConfig.get(o) === "y");
    const adds = verify.filter((o) => union.has(o) && !reached.has(o));
    console.error(
      `trial ${round}: ${enable.length} asked (picks ${picks.join(" ")}; off ${disable.join(" ")}), ` +
        `${verify.length} on, ${adds.length} new`,
    );
    for (const o of picks) if (dotConfig.get(o) !== "y") refused.add(o);
    for (const o of dotConfig.keys()) visible.add(o);
    if (adds.length === 0) {
      if (picks.length === 0 && blocked.length === 0) break;
      continue;
    }
    trials.push({ name, values: dotConfig });
    for (const o of verify) reached.add(o);
    const kept = `Kconfig keeps ${verify.length} of the ${enable.length} asked on; ${adds.length} of the hyp build's options are on in no configuration before it`;
    const choices = picks.length
      ? ` Of each choice, the member no configuration before it had: ${picks.join(", ")}.`
      : "";
    const off = blocked.length
      ? ` Off, because they kept options off before it (depends on !...): ${blocked.join(", ")}.`
      : "";
    derived.push({
      name,
      reason:
        (derived.length === 0
          ? `Every bool/tristate option the hyp build tests (its .cmd files and Makefiles) that defconfig leaves off, with the options they depend on, asked for at once on top of defconfig with debug info: the breaks that show only when a debugging or platform option is on.`
          : `The options of ${roundName(1)} that Kconfig could not have on with the others: the other members of their choices, and what conflicts with them.`) +
        `${choices}${off} ${kept}${derived.length === 0 ? "." : `: ${adds.join(", ")}.`}`,
      disable,
      enable,
      verify,
      adds,
    });
  }
  return { derived, trials };
}

async function writeGenerated(derived: DerivedConfig[], head: string, repo: string) {
  const data = derived.map(({ name, reason, disable, enable, verify }) => ({
    name,
    reason,
    disable,
    enable,
    verify,
  }));
  const text =
    `// Generated by \`npm run configs:coverage -- --derive\` from ${path.basename(repo)} ` +
    `${head.slice(0, 12)}: the options the hyp build tests, grouped into the fewest ` +
    `configurations Kconfig accepts (docs/check.md, Configurations). Do not edit by hand.\n\n` +
    `/** A configuration generated from the options the hyp build depends on. */\n` +
    `export interface OptionConfigDef {\n  name: string;\n  /** Why it exists. */\n  reason: string;\n` +
    `  /** \`scripts/config -d\`, before \`enable\`. */\n  disable: readonly string[];\n` +
    `  /** \`scripts/config -e\`. */\n  enable: readonly string[];\n` +
    `  /** What olddefconfig kept on, checked after each configure. */\n  verify: readonly string[];\n}\n\n` +
    `export const OPTION_CONFIGS = ${JSON.stringify(data)} as const satisfies readonly OptionConfigDef[];\n`;
  await writeFile(GENERATED, await format(text, { filepath: GENERATED, printWidth: 100 }));
  console.error(`wrote ${GENERATED}`);
}

const repo = await ensureTree({ tree: values.tree ?? readConfig().tree });
await mkdir(values.cache, { recursive: true });
await chmod(values.cache, 0o755);
const head = (await gitOk(repo, ["rev-parse", "HEAD"])).trim();
const clang = (await compilerVersion("clang")) !== "";
const names =
  (values.configs?.split(",") as BuildConfigName[] | undefined) ??
  ALL.filter((c) => clang || BUILD_CONFIGS[c].cc !== "clang");
for (const c of names) if (!ALL.includes(c)) throw new Error(`unknown configuration ${c}`);

const slot = await acquireSlot(repo, head, { cacheDir: values.cache, maxSlots: 1 });
try {
  await resetSlot(slot, head);
  const { configs, options } = await configsOf(slot, names);
  const symbols = await arm64KconfigSymbols(slot.src);
  const generated: readonly OptionConfigDef[] = OPTION_CONFIGS;
  // A generated configuration is built with gcc and, as `clang-<name>`, with clang.
  const fixed = configs.filter(
    (c) => !generated.some((g) => c.name === g.name || c.name === `clang-${g.name}`),
  );
  const defaults = configs.filter((c) => DEFAULT_CONFIGS.includes(c.name as BuildConfigName));
  console.log(
    `${options.size} options the hyp build depends on (linux ${path.basename(repo)} ${head.slice(0, 12)}, ` +
      `.cmd files and Makefiles of ${configs.length} configuration builds)`,
  );
  const all = optionCoverage(options.keys(), symbols, configs);
  console.log(
    `  ${all.switchable} bool/tristate options arm64 defines, ${all.valued} int/hex/string options, ` +
      `${all.undefined} no arm64 Kconfig file defines`,
  );
  printCoverage(
    "on in the default configurations",
    optionCoverage(options.keys(), symbols, defaults),
    defaults.map((c) => c.name),
  );
  if (fixed.length !== configs.length)
    printCoverage(
      "on without the generated configurations",
      optionCoverage(options.keys(), symbols, fixed),
      fixed.map((c) => c.name),
    );
  printCoverage(
    "on in at least one configuration",
    all,
    configs.map((c) => c.name),
  );
  for (const c of configs)
    console.log(
      `  ${c.name}: ${all.options.filter((o) => o.onIn.includes(c.name) && o.type !== "int" && o.type !== "hex" && o.type !== "string").length} on`,
    );
  printNeverOn(all);
  let derived: DerivedConfig[] = [];
  if (values.derive) {
    const result = await derive(slot, options, symbols, fixed);
    derived = result.derived;
    const withTrials = optionCoverage(options.keys(), symbols, [...fixed, ...result.trials]);
    console.log("");
    printCoverage(
      "with the derived configurations",
      withTrials,
      [...fixed, ...result.trials].map((c) => c.name),
    );
    for (const d of derived) console.log(`\n${d.name}: ${d.reason}\n  adds: ${d.adds.join(" ")}`);
    printNeverOn(withTrials);
    await writeGenerated(derived, head, repo);
  }
  if (values.json)
    await writeFile(
      values.json,
      JSON.stringify(
        { head, configs: configs.map((c) => c.name), coverage: all, derived },
        null,
        2,
      ) + "\n",
    );
} finally {
  await slot.release();
}
