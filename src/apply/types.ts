import type { SandboxBound } from "../io/sandbox.js";
import type { OPTION_CONFIGS } from "./option-configs.js";
import { HypwatchError, type ErrorKind } from "../errors.js";
/** Which generation of the arm64 KVM hyp layout a tree has (docs/hyp-domain.md). */
export type Era = "modern" | "legacy";

/** Why `git am -3` refused a patch. */
export type ApplyFailureKind =
  "missing-file" | "context-mismatch" | "malformed" | "already-applied" | "unknown";

/** One patch to apply: its raw mail (RFC 822 or mbox text), named for errors and reports. */
export interface PatchInput {
  /** Message-ID or another stable name of the patch, used in results and errors. */
  id: string;
  mail: string | Buffer;
}

export type PatchApplyResult =
  | { id: string; applied: true; commit: string }
  | {
      id: string;
      applied: false;
      kind: ApplyFailureKind;
      /** Paths git named in its complaint (repository-relative); may be empty. */
      paths: string[];
      /** git's own output; for logs only, never for replies. */
      rawOutput: string;
    };

export interface SeriesApplyResult {
  base: string;
  /** One entry per patch tried, in order; applying stops at the first failure. */
  patches: PatchApplyResult[];
  /** True when every patch applied. */
  complete: boolean;
}

/** One base that was considered for a series, and why it was or was not used. */
export interface BaseAttempt {
  /** What was tried: the `base-commit:` value, a configured ref, or `HEAD`. */
  ref: string;
  source: "base-commit" | "candidate" | "head";
  /** The commit it resolved to; null when the tree does not have it. */
  commit: string | null;
  outcome: "chosen" | "missing" | "does-not-apply";
  /** For `does-not-apply`: the first patch that failed and why. */
  failure?: { patchId: string; kind: ApplyFailureKind };
}

export interface BaseChoice {
  /** The chosen base commit, or null when no base took the whole series. */
  commit: string | null;
  attempts: BaseAttempt[];
}

/**
 * The build configurations: `defconfig` and `instrumented` with the cross gcc (every check's
 * default), the same two with clang as the compiler, where clang is installed, and the
 * configurations generated from the options the hyp build tests (option-configs.ts), each
 * also with clang.
 */
export type BuildConfigName =
  | "defconfig"
  | "instrumented"
  | "clang-defconfig"
  | "clang-instrumented"
  | (typeof OPTION_CONFIGS)[number]["name"]
  | `clang-${(typeof OPTION_CONFIGS)[number]["name"]}`;

/** The C compilers a configuration can be built with. */
export type Compiler = "gcc" | "clang";

/** What one configuration asked for and what Kconfig actually gave, read from .config. */
export interface ConfigReport {
  name: BuildConfigName;
  hash: string;
  /** Options requested on top of defconfig (without `CONFIG_`), e.g. `KASAN`. */
  requested: string[];
  /** Of those, the ones set to y in the final .config. */
  enabled: string[];
  /** Requested but not enabled (the compiler or the architecture lacks support). */
  unavailable: string[];
}

export interface HypBuildResult {
  config: BuildConfigName;
  era: Era;
  /** The commit the worktree was at when building. */
  head: string;
  buildDir: string;
  targets: string[];
  ok: boolean;
  timedOut: boolean;
  /**
   * The bound that stopped the build (io/sandbox.ts), or `series-time` when the series ran
   * out of its time (the build was cut short or not started); null when none was reached.
   */
  bound: SandboxBound | "series-time" | null;
  /** Targets make named in `*** [...] Error` lines (object files or directories). */
  failedTargets: string[];
  logPath: string;
  durationMs: number;
  /** Whether the build directory was reused (incremental) or started empty. */
  incremental: boolean;
  /**
   * Compiles ccache answered from its cache and those it ran the compiler for, from its log
   * (written in the build's sandbox: a figure to show, not to trust); absent without ccache.
   */
  compilerCache?: { hits: number; misses: number };
  /** What the configuration enabled, as read back from .config when it was configured. */
  configReport: ConfigReport;
}

/** A kernel tree that cannot be used: not a git repository, clone failed, no commits. */
export class TreeError extends HypwatchError {
  constructor(
    readonly tree: string,
    readonly reason: string,
    /** Permanent for a path or tarball that is not a usable tree; upstream for a failed clone. */
    readonly kind: ErrorKind = "permanent",
  ) {
    super(`kernel tree ${tree}: ${reason}`);
  }
}

/** Neither era's marker was found in a worktree. */
export class UnknownEraError extends HypwatchError {
  readonly kind = "permanent";
  constructor(readonly dir: string) {
    super(`${dir}: neither arch/arm64/kvm/hyp/nvhe/Makefile nor __hyp_text found`);
  }
}

/** Configuring a build directory failed (defconfig or olddefconfig). */
export class ConfigureError extends HypwatchError {
  // The same tree and configuration fail the same way, bound or not; the log says why.
  readonly kind = "permanent";
  constructor(
    /** The configuration, or the label of a trial configuration (`trialConfigure`). */
    readonly config: BuildConfigName | (string & {}),
    readonly logPath: string,
    readonly reason: string,
  ) {
    super(`cannot configure ${config}: ${reason} (log: ${logPath})`);
  }
}
