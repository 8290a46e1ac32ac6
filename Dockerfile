# The worker image: Node 20, the cross compiler, git, bubblewrap and Debian's linux-source,
# everything `scripts/ci-packages.txt` lists, and hypwatch built.
FROM node:20-bookworm
WORKDIR /app
COPY scripts/ci-packages.txt scripts/ci-packages.txt
RUN apt-get update \
 && grep -v '^#' scripts/ci-packages.txt | xargs apt-get install -y --no-install-recommends \
 && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json tsconfig.json tsconfig.build.json ./
COPY src src
COPY workers workers
RUN npm ci && npm run build && npm prune --omit=dev
ENTRYPOINT ["node", "dist/src/cli/main.js"]
CMD ["serve"]
