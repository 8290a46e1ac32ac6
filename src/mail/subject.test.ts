import { describe, expect, it } from "vitest";
import { parseSubject } from "./subject.js";
import type { ParsedSubject } from "./types.js";

type Expected = Partial<ParsedSubject>;

// Real subjects: the kvmarm archive, the threads/ corpus and Patchwork's test mail.
// The few forms neither holds (`PATCH1/8`, `Aw:`, `[PATCH] [v2]`, net-next, PATCH-next) come from
// other kernel lists and are written out here.
const cases: [string, Expected][] = [
  [
    "[PATCH v7 09/11] arm64: disable SCS for hypervisor code",
    { isPatch: true, version: 7, index: 9, total: 11, isReply: false, tags: [] },
  ],
  [
    "Re: [PATCH v7 09/11] arm64: disable SCS for hypervisor code",
    { isReply: true, isPatch: true, version: 7, index: 9, total: 11 },
  ],
  [
    "[RFC PATCH v2 0/5] KVM: arm64: some cover",
    { isRfc: true, isPatch: true, version: 2, index: 0, total: 5, stem: "KVM: arm64: some cover" },
  ],
  [
    "RE: [RFC PATCH v12 03/11] psci: export smccc conduit get helper.",
    { isReply: true, isRfc: true, version: 12, index: 3, total: 11 },
  ],
  [
    "Re: [RESEND PATCH] KVM: arm: VGIC: properly initialise private IRQ",
    { isResend: true, isPatch: true, version: 1, index: null, total: null },
  ],
  [
    "Re: [PATCH V5 (RESEND) 0/4] arm64/cpufeature: Introduce ID_PFR2,",
    { isResend: true, version: 5, index: 0, total: 4 },
  ],
  [
    "[PATCH net-next v3 0/4] net: dsa: Multi-CPU ground work (v3)",
    {
      tags: ["net-next"],
      version: 3,
      index: 0,
      total: 4,
      stem: "net: dsa: Multi-CPU ground work (v3)",
    },
  ],
  [
    "[PATCH stable 4.19.y] arm64: entry: Place an SB sequence following an",
    { tags: ["stable", "4.19.y"], isPatch: true, version: 1 },
  ],
  ["[PATCH 5.10.y] KVM: arm64: fix something", { tags: ["5.10.y"], isPatch: true }],
  [
    "[PATCH-next v5 2/6] KVM: arm64: a resend for a tree",
    { isPatch: true, tags: ["next"], version: 5, index: 2, total: 6 },
  ],
  ["[RFC-net-next 1/2] net: x", { isPatch: true, isRfc: true, tags: ["net-next"], index: 1 }],
  [
    "PATCH1/8 KVM: arm64: bare counter",
    { isPatch: true, index: 1, total: 8, stem: "KVM: arm64: bare counter" },
  ],
  ["[PATCH v2 3/5] KVM: arm64: x", { version: 2, index: 3, total: 5 }],
  [
    "RE: [PATCH V3] KVM: arm64: Implement vq_present() as a macro",
    { isReply: true, version: 3, stem: "KVM: arm64: Implement vq_present() as a macro" },
  ],
  [
    "[GIT PULL] KVM/arm fixes for 5.2-rc6",
    { isPull: true, isPatch: false, stem: "KVM/arm fixes for 5.2-rc6" },
  ],
  [
    "Re: [GIT PULL 00/23] KVM/arm updates for 5.6",
    { isPull: true, isReply: true, index: 0, total: 23 },
  ],
  ["[GIT] Networking", { isPull: true, stem: "Networking" }],
  [
    "Re: Re: [PATCH v2 00/94] KVM: arm64: ARMv8.3/8.4 Nested",
    { isReply: true, version: 2, index: 0, total: 94 },
  ],
  ["Aw: Re: [PATCH] x", { isReply: true, stem: "x" }],
  [
    "FW: Re: [PATCH 07/37] KVM: arm64: Separate SError detection from",
    { isForward: true, isReply: true, index: 7, total: 37 },
  ],
  ["Fwd: [PATCH] x", { isForward: true, isReply: false, stem: "x" }],
  ["[PATCH] [v2] KVM: arm64: bracket run", { version: 2, stem: "KVM: arm64: bracket run" }],
  [
    "Re: [PATCHv2 0/3]  arm64: kvm: avoid referencing cpu_hwcaps from hyp",
    { version: 2, index: 0, total: 3, stem: "arm64: kvm: avoid referencing cpu_hwcaps from hyp" },
  ],
  [
    "Re: [PATCH kvm-unit-tests v2] arm: Add PL031 test",
    { tags: ["kvm-unit-tests"], version: 2, stem: "arm: Add PL031 test" },
  ],
  [
    "[Buildroot] [PATCH 01/11] package/rpi-userland: rename patches",
    { tags: ["Buildroot"], index: 1, total: 11, stem: "package/rpi-userland: rename patches" },
  ],
  ["[PATCH 1 of 2] contrib: fix check-commit", { index: 1, total: 2 }],
  [
    "[Patch 2/2]: powerpc/hotplug/mm: Fix",
    { isPatch: true, index: 2, stem: "powerpc/hotplug/mm: Fix" },
  ],
  ["[RFC 2/3] KVM: arm64: pmu: Fix chained SW_INCR counters", { isRfc: true, isPatch: true }],
  ["[PATCH -next] bpf: Use PTR_ERR_OR_ZERO", { tags: ["-next"], isPatch: true }],
  [
    "ARM64 kvm cache coherency problem",
    { isPatch: false, stem: "ARM64 kvm cache coherency problem" },
  ],
  ["", { isPatch: false, stem: "", raw: "" }],
];

describe("parseSubject", () => {
  it.each(cases)("%s", (subject, expected) => {
    expect(parseSubject(subject)).toMatchObject(expected);
  });

  it("gives the same stem to every revision and reply of a patch", () => {
    const stems = [
      "[PATCH v6 01/25] KVM: arm64: Introduce a validation function for an ID register",
      "Re: [PATCH v6 01/25] KVM: arm64: Introduce a validation function for an ID register",
      "[RFC PATCH 1/3] KVM: arm64: Introduce a validation function for an ID register",
      "[PATCH RESEND v7 1/28] KVM: arm64: Introduce a validation function for an ID register",
    ].map((s) => parseSubject(s).stem);
    expect(new Set(stems).size).toBe(1);
  });

  it("folds whitespace of a folded header", () => {
    expect(
      parseSubject("[PATCH v3 00/21] KVM: arm64: Rewrite page-table code and fault\n handling")
        .stem,
    ).toBe("KVM: arm64: Rewrite page-table code and fault handling");
  });
});
