import { describe, expect, it } from "vitest";
import { parseCommands } from "./commands.js";

describe("#hypwatch commands in a reply", () => {
  it("reads commands alone at the start of a line", () => {
    expect(
      parseCommands(
        "Thanks.\n\n#hypwatch retest\n#hypwatch base kvmarm/next\n#hypwatch ignore hyp/new-alias\n",
      ),
    ).toEqual([
      { verb: "retest", argument: null, line: "#hypwatch retest" },
      { verb: "base", argument: "kvmarm/next", line: "#hypwatch base kvmarm/next" },
      { verb: "ignore", argument: "hyp/new-alias", line: "#hypwatch ignore hyp/new-alias" },
    ]);
  });

  it("ignores quoted lines, lines that merely mention it, and the signature", () => {
    expect(
      parseCommands("> #hypwatch retest\nsee #hypwatch retest\n-- \n#hypwatch retest\n"),
    ).toEqual([]);
  });

  it("keeps what it cannot understand, to say so, and reads at most five", () => {
    expect(parseCommands("#hypwatch frobnicate\n#hypwatch retest now\n#hypwatch base\n")).toEqual([
      { verb: null, argument: null, line: "#hypwatch frobnicate" },
      { verb: null, argument: "now", line: "#hypwatch retest now" },
      { verb: null, argument: null, line: "#hypwatch base" },
    ]);
    expect(parseCommands("#hypwatch retest\n".repeat(9))).toHaveLength(5);
  });
});
