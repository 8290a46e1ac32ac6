import js from "@eslint/js";
import tseslint from "typescript-eslint";

/**
 * The layers, bottom up: what each folder of src/ may not import (docs: the pipeline is
 * visible in the tree). Pure layers stay pure; nothing imports the layers above it.
 */
const LAYERS = {
  io: [
    "mail",
    "series",
    "check",
    "apply",
    "intake",
    "shapes",
    "pipeline",
    "report",
    "cli",
    "config",
    "state",
  ],
  mail: [
    "io",
    "series",
    "check",
    "apply",
    "intake",
    "shapes",
    "pipeline",
    "report",
    "cli",
    "config",
    "state",
  ],
  series: [
    "io",
    "check",
    "apply",
    "intake",
    "shapes",
    "pipeline",
    "report",
    "cli",
    "config",
    "state",
  ],
  check: ["apply", "series", "intake", "shapes", "pipeline", "report", "cli", "config", "state"],
  apply: ["check", "series", "intake", "shapes", "pipeline", "report", "cli", "config", "state"],
  intake: ["check", "apply", "shapes", "pipeline", "report", "cli", "state"],
  shapes: ["io", "intake", "pipeline", "report", "cli", "config", "state"],
  report: ["io", "apply", "intake", "pipeline", "state", "cli"],
  state: ["io", "mail", "check", "apply", "intake", "pipeline", "report", "cli", "config"],
  pipeline: ["report", "cli"],
  /** Sending what report renders: mail, GitHub. Reads the state; never checks or ingests. */
  notify: ["apply", "intake", "pipeline", "cli"],
};

/** Sending (notify) sits above every library layer but the CLI: none of them imports it. */
const forbiddenOf = (layer, forbidden) =>
  layer === "notify" ? forbidden : [...forbidden, "notify"];

const layerRules = Object.entries(LAYERS).map(([layer, forbidden]) => ({
  files: [`src/${layer}/**/*.ts`],
  ignores: ["**/*.test.ts"],
  rules: {
    "no-restricted-imports": [
      "error",
      {
        patterns: [
          {
            group: forbiddenOf(layer, forbidden).flatMap((f) => [
              `../${f}`,
              `../${f}/*`,
              `../${f}.js`,
            ]),
            message: `src/${layer} may not import this layer (eslint.config.js, LAYERS).`,
          },
          {
            group: ["../../workers/*", "../../scripts/*", "../../bench/*"],
            message: "the library does not import the service, scripts or benchmarks.",
          },
        ],
      },
    ],
  },
}));

export default tseslint.config(
  { ignores: ["dist/", "node_modules/", "coverage/", ".cache/"] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      "@typescript-eslint/no-explicit-any": "error",
      "@typescript-eslint/no-unused-vars": [
        "error",
        { argsIgnorePattern: "^_", varsIgnorePattern: "^_" },
      ],
      "no-console": "off",
    },
  },
  ...layerRules,
);
