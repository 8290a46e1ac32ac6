import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { errorKind } from "./errors.js";
import {
  ConfigError,
  configSecrets,
  listBaseCandidates,
  listTree,
  readConfig,
  sourceId,
  type Config,
} from "./config.js";

let tmp: string;
let files = 0;

beforeAll(async () => {
  tmp = await mkdtemp(path.join(tmpdir(), "hypwatch-config-"));
});

afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

/** A configuration file with `text`, named `name` in a fresh directory. */
async function configFile(text: string, name = "hypwatch.yaml"): Promise<string> {
  const dir = path.join(tmp, `f${++files}`);
  await mkdir(dir);
  const file = path.join(dir, name);
  await writeFile(file, text);
  return file;
}

/** The ConfigError `read` throws, so its lines can be compared. */
function configError(read: () => Config): ConfigError {
  try {
    read();
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error("no ConfigError");
}

const KVMARM = `
tree: https://git.kernel.org/pub/scm/linux/kernel/git/torvalds/linux.git
baseCandidates: [master]
lists:
  - name: kvmarm
    sources:
      - type: lore
        url: https://lore.kernel.org/kvmarm
      - type: imap
        host: imap.example.org
        user: reader
        passwordEnv: KVMARM_IMAP_PASSWORD
  - name: kvm
    tree: /srv/kvm.git
    baseCandidates: [queue, next]
    sources:
      - type: maildir
        path: /srv/mail/kvm
policies:
  partialWaitSeconds: 3600
service:
  metricsPort: 0
`;

describe("configuration file", () => {
  it("loads lists, sources, trees and policies from YAML, with the defaults of the rest", async () => {
    const file = await configFile(KVMARM);
    const config = readConfig({}, file);
    expect(config.lists).toEqual([
      {
        name: "kvmarm",
        sources: [
          { type: "lore", url: "https://lore.kernel.org/kvmarm" },
          {
            type: "imap",
            host: "imap.example.org",
            port: 993,
            tls: true,
            user: "reader",
            mailbox: "INBOX",
            passwordEnv: "KVMARM_IMAP_PASSWORD",
          },
        ],
      },
      {
        name: "kvm",
        tree: "/srv/kvm.git",
        baseCandidates: ["queue", "next"],
        sources: [{ type: "maildir", path: "/srv/mail/kvm" }],
      },
    ]);
    expect(config.policies).toEqual({
      partialWaitSeconds: 3600,
      assemblyWindowMessages: 5000,
      assemblyMarginMessages: 1000,
      treeFetchIntervalSeconds: 3600,
    });
    expect(config.service).toMatchObject({ metricsPort: 0, metricsHost: "127.0.0.1" });
    expect(config.service.scanTimeLimitSeconds).toBe(1800);
    const [kvmarm, kvm] = config.lists;
    expect(listTree(kvmarm!, config)).toBe(config.tree);
    expect(listBaseCandidates(kvmarm!, config)).toEqual(["master"]);
    expect(listTree(kvm!, config)).toBe("/srv/kvm.git");
    expect(listBaseCandidates(kvm!, config)).toEqual(["queue", "next"]);
  });

  it("is the file HYPWATCH_CONFIG names; without one, the environment alone as before", async () => {
    const file = await configFile(KVMARM);
    expect(readConfig({ HYPWATCH_CONFIG: file }).lists.map((l) => l.name)).toEqual([
      "kvmarm",
      "kvm",
    ]);
    const config = readConfig({});
    expect(config.lists).toEqual([]);
    expect(config.service).toMatchObject({ metricsPort: 9464, metricsHost: "127.0.0.1" });
    expect(config.policies.partialWaitSeconds).toBe(24 * 3600);
  });

  it("takes every variable that is set over the file's key, and the file's key over the default", async () => {
    const file = await configFile(`
tree: /srv/linux.git
lore: { url: "https://lore.kernel.org/kvmarm", pollIntervalSeconds: 600 }
service: { logLevel: debug, metricsPort: 9000 }
policies: { assemblyWindowMessages: 8000 }
mailLimits: { maxLineBytes: 4096 }
`);
    const config = readConfig(
      {
        HYPWATCH_LINUX_TREE: "/other/linux.git",
        HYPWATCH_LORE_POLL_INTERVAL: "300",
        HYPWATCH_METRICS_PORT: "0",
        HYPWATCH_METRICS_HOST: "0.0.0.0",
        HYPWATCH_PARTIAL_WAIT: "7200",
        HYPWATCH_ASSEMBLY_MARGIN: "10",
        HYPWATCH_TREE_FETCH_INTERVAL: "900",
        // Empty: unset, as it always was.
        HYPWATCH_LOG_LEVEL: "",
      },
      file,
    );
    expect(config.tree).toBe("/other/linux.git");
    expect(config.lore).toEqual({
      url: "https://lore.kernel.org/kvmarm",
      pollIntervalSeconds: 300,
    });
    expect(config.service).toMatchObject({
      logLevel: "debug",
      metricsPort: 0,
      metricsHost: "0.0.0.0",
    });
    expect(config.policies).toEqual({
      partialWaitSeconds: 7200,
      assemblyWindowMessages: 8000,
      assemblyMarginMessages: 10,
      treeFetchIntervalSeconds: 900,
    });
    expect(config.mailLimits.maxLineBytes).toBe(4096);
  });

  it("fills the file's imap section from the IMAP variables, and never takes its password from the file", async () => {
    const file = await configFile("imap: { host: imap.example.org, user: reader }\n");
    const config = readConfig({ HYPWATCH_IMAP_PASSWORD: "imap-secret-3" }, file);
    expect(config.imap).toMatchObject({ host: "imap.example.org", password: "imap-secret-3" });
    const withPassword = await configFile(
      "imap: { host: imap.example.org, user: reader, password: hunter2 }\n",
    );
    expect(configError(() => readConfig({}, withPassword)).message).toBe(
      `${withPassword}: imap.password: secrets are not read from the file; set HYPWATCH_IMAP_PASSWORD`,
    );
  });

  it("names the file and each bad key as a dotted path with indexes", async () => {
    const file = await configFile(
      `
lists:
  - name: kvmarm
    sources:
      - type: lore
        url: https://lore.kernel.org/kvmarm
      - type: lore
        url: lore.kernel.org/kvmarm
        pollIntervalSeconds: 5
      - type: imap
        host: imap.example.org
        port: "993"
        user: reader
        password: hunter2
      - type: nntp
  - name: KVM
    sources: []
policies: { assemblyWindowMessages: 100, assemblyMarginMessages: 100 }
`,
      "bad.yaml",
    );
    const error = configError(() => readConfig({}, file));
    expect(error.kind).toBe("permanent");
    expect(errorKind(error)).toBe("permanent");
    expect(error.problems).toEqual([
      `${file}: lists.0.sources.1.url: Invalid URL`,
      `${file}: lists.0.sources.1.pollIntervalSeconds: Too small: expected number to be >=30`,
      `${file}: lists.0.sources.2.port: Invalid input: expected number, received string`,
      `${file}: lists.0.sources.2.password: unknown key; passwords are read from the environment (passwordEnv)`,
      `${file}: lists.0.sources.3.type: Invalid discriminator value. Expected 'lore' | 'epochs' | 'imap' | 'maildir' | 'mbox'`,
      `${file}: lists.1.name: lowercase letters and digits, and '.', '_' or '-' after the first`,
      `${file}: lists.1.sources: Too small: expected array to have >=1 items`,
      `${file}: policies.assemblyMarginMessages: must be less than assemblyWindowMessages, or no message is acted on`,
    ]);
    expect(error.message).toBe(error.problems.join("\n"));
  });

  it("refuses an unknown key at the top level and in lists and sections", async () => {
    const file = await configFile(
      "tres: /srv/linux.git\nlists: [{ name: kvmarm, sources: [{ type: mbox, path: /m }], trees: x }]\npolicies: { partialWait: 5 }\n",
    );
    expect(configError(() => readConfig({}, file)).problems).toEqual([
      `${file}: lists.0.trees: unknown key`,
      `${file}: policies.partialWait: unknown key`,
      `${file}: tres: unknown key`,
    ]);
  });

  it("refuses two lists of one name, and one source given twice in a list", async () => {
    const file = await configFile(`
lists:
  - name: kvmarm
    sources: [{ type: lore, url: "https://lore.kernel.org/kvmarm" }]
  - name: kvmarm
    sources:
      - { type: maildir, path: /srv/mail/kvmarm }
      - { type: maildir, path: /srv/mail/../mail/kvmarm/ }
`);
    expect(configError(() => readConfig({}, file)).problems).toEqual([
      `${file}: lists.1.sources.1: same source as sources.0`,
      `${file}: lists.1.name: list name "kvmarm" is taken by lists.0`,
    ]);
  });

  it("names the variable when a bad value came from the environment", async () => {
    const file = await configFile("service: { scanTimeLimitSeconds: 60 }\n");
    expect(
      configError(() => readConfig({ HYPWATCH_SCAN_TIME_LIMIT: "ten" }, file)).problems,
    ).toEqual([
      "HYPWATCH_SCAN_TIME_LIMIT: service.scanTimeLimitSeconds: Invalid input: expected number, received NaN",
    ]);
    expect(
      configError(() => readConfig({ HYPWATCH_IMAP_HOST: "imap.example.org" })).problems,
    ).toEqual([
      "HYPWATCH_IMAP_USER: imap.user: Invalid input: expected string, received undefined",
      "HYPWATCH_IMAP_PASSWORD: imap.password: Invalid input: expected string, received undefined",
    ]);
  });

  it("names the file, line and column of a YAML error, and a file that is missing or not a mapping", async () => {
    const file = await configFile("lists:\n  - name: kvmarm\n    sources: [\n  tree: x\n");
    const [problem] = configError(() => readConfig({}, file)).problems;
    expect(problem).toMatch(new RegExp(`^${file}:\\d+:\\d+: `));
    const duplicate = await configFile("tree: a\ntree: b\n");
    expect(configError(() => readConfig({}, duplicate)).problems).toEqual([
      `${duplicate}:2:1: Map keys must be unique`,
    ]);
    const missing = path.join(tmp, "none.yaml");
    expect(configError(() => readConfig({ HYPWATCH_CONFIG: missing })).message).toMatch(
      new RegExp(`^${missing}: cannot be read: ENOENT`),
    );
    const list = await configFile("- kvmarm\n");
    expect(configError(() => readConfig({}, list)).message).toBe(
      `${list}: the top level must be a mapping of keys`,
    );
    expect(readConfig({}, await configFile("# nothing yet\n")).lists).toEqual([]);
  });

  it("lists the IMAP passwords of the lists' sources and the tokens in their URLs as secrets", async () => {
    const file = await configFile(`
lists:
  - name: kvmarm
    tree: https://bot:tree-t0ken@git.example.org/linux.git
    sources:
      - { type: lore, url: "https://lore-t0ken@mirror.example.org/kvmarm" }
      - { type: epochs, url: "https://bot:epochs-t0ken@mirror.example.org/kvmarm" }
      - { type: imap, host: imap.example.org, user: reader, passwordEnv: KVMARM_PW }
      - { type: imap, host: imap.example.org, user: other }
`);
    const env = { KVMARM_PW: "kvmarm-pw", HYPWATCH_IMAP_PASSWORD: "default-pw" };
    const secrets = configSecrets(readConfig(env, file), env);
    for (const secret of ["tree-t0ken", "lore-t0ken", "epochs-t0ken", "kvmarm-pw", "default-pw"]) {
      expect(secrets).toContain(secret);
    }
  });

  it("gives each source an id of its own settings, without credentials", () => {
    expect(sourceId({ type: "lore", url: "https://bot:t0k@lore.example.org/kvmarm/" })).toBe(
      "lore:https://lore.example.org/kvmarm",
    );
    expect(sourceId({ type: "epochs", url: "https://lore.kernel.org/kvmarm" })).toBe(
      "epochs:https://lore.kernel.org/kvmarm",
    );
    expect(sourceId({ type: "epochs", url: "/srv/epochs/kvmarm/" })).toBe(
      "epochs:/srv/epochs/kvmarm",
    );
    expect(
      sourceId({
        type: "imap",
        host: "imap.example.org",
        port: 993,
        tls: true,
        user: "reader",
        mailbox: "INBOX",
        passwordEnv: "HYPWATCH_IMAP_PASSWORD",
      }),
    ).toBe("imap:reader@imap.example.org:993/INBOX");
    expect(sourceId({ type: "mbox", path: "/srv/mail/kvm.mbox" })).toBe("mbox:/srv/mail/kvm.mbox");
  });
});
