import { describe, expect, it } from "vitest";
import { corpusMbox } from "../../test/series-helpers.js";
import type { MailMessage } from "../mail/index.js";
import { assembleSeries } from "./index.js";

/**
 * Patchwork's base-no-references.mbox: "[net,v2,1/2]" and "[net,v2,2/2]" by Lin Zhang, eight
 * minutes apart, with no In-Reply-To or References at all. Only author, version, total,
 * arrival order and Date tie them together.
 */
const load = (): Promise<MailMessage[]> =>
  corpusMbox("patchwork", "series", "base-no-references.mbox");
/** A real thread of other mail, to arrive between the two patches. */
const unrelated = (): Promise<MailMessage[]> =>
  corpusMbox("threads", "tidy-kconfig-makefiles-v4", "tidy-kconfig-makefiles-v4.mbox");
const DAY = 24 * 60 * 60 * 1000;

describe("unthreaded series", () => {
  it("stay together when a Date header is backdated by a year, because they arrived together", async () => {
    const [first, second] = await load();
    if (!first?.date || !second) throw new Error("fixture changed");
    const backdated = { ...second, date: new Date(first.date.getTime() - 365 * DAY) };
    const all = assembleSeries([first, backdated]);
    expect(all).toHaveLength(1);
    expect(all[0]).toMatchObject({ complete: true, total: 2, version: 2 });
    expect(all[0]?.date).toBe(backdated.date.toISOString());
  });

  it("stay apart when they arrived far apart, however close their Dates", async () => {
    const [first, second] = await load();
    if (!first || !second) throw new Error("fixture changed");
    const between = await unrelated();
    const options = { arrivalWindow: 5 };
    const apart = assembleSeries([first, ...between, second], options);
    expect(apart.filter((s) => s.author.email === "xiaolou4617@gmail.com")).toHaveLength(2);
    const together = assembleSeries([first, second, ...between], options);
    expect(together.filter((s) => s.author.email === "xiaolou4617@gmail.com")).toHaveLength(1);
  });

  it("join across a dozen unrelated mails that arrived in between (default windows)", async () => {
    const [first, second] = await load();
    if (!first || !second) throw new Error("fixture changed");
    const between = await unrelated();
    // 12 mails in between: within total + 20 arrivals, close enough without asking Date.
    const near = assembleSeries([first, ...between, second]);
    expect(near.filter((s) => s.author.email === "xiaolou4617@gmail.com")).toHaveLength(1);
  });

  it("do not take another author's patch with the same counters", async () => {
    const [first, second] = await load();
    if (!first || !second) throw new Error("fixture changed");
    const other = { ...second, author: { name: "Someone Else", email: "else@example.org" } };
    const all = assembleSeries([first, other]);
    expect(all.map((s) => s.patches.length)).toEqual([1, 1]);
  });
});
