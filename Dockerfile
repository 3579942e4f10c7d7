# syntax=docker/dockerfile:1
# The dman sync server as a container image (docs/release.md, "Run the server").
#   docker build -t dman-server .
#   docker run -d -p 3626:3626 -v dman-data:/data -e DMAN_USERS=alice dman-server
# Configure with DMAN_* variables (see scripts/docker-entrypoint.sh) or mount a dman.yaml and
# set DMAN_CONFIG. Runs as the unprivileged user dman (uid 10001), which must own /data.

ARG NODE_IMAGE=node:20-bookworm-slim

# ---- build: install everything, bundle the CLI, then drop the dev dependencies ----
FROM ${NODE_IMAGE} AS build
WORKDIR /src
# No Electron binary, no install scripts: the server needs neither, and they would try to download.
ENV ELECTRON_SKIP_BINARY_DOWNLOAD=1 \
    npm_config_update_notifier=false \
    npm_config_fund=false \
    npm_config_audit=false
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts
COPY . .
ARG DMAN_COMMIT=unknown
RUN DMAN_COMMIT="${DMAN_COMMIT}" node scripts/build.mjs cli \
 && npm prune --omit=dev --ignore-scripts \
 && rm -rf node_modules/.cache

# ---- runtime: node, production dependencies, the CLI bundle; nothing else ----
FROM ${NODE_IMAGE} AS runtime
LABEL org.opencontainers.image.title="dman-server" \
      org.opencontainers.image.description="dman dotfile sync server (disk, Redis or MariaDB storage)" \
      org.opencontainers.image.licenses="MIT"
ENV NODE_ENV=production \
    DMAN_ADDR=0.0.0.0:3626 \
    DMAN_DATA_DIR=/data \
    TMPDIR=/tmp
RUN groupadd --system --gid 10001 dman \
 && useradd --system --uid 10001 --gid dman --home-dir /data --no-create-home --shell /usr/sbin/nologin dman \
 && mkdir -p /data \
 && chown dman:dman /data \
 && chmod 0700 /data
WORKDIR /app
COPY --from=build /src/package.json ./package.json
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/bin ./bin
COPY --from=build /src/dist/cli.js ./dist/cli.js
# the chunks dist/cli.js loads on use (the server and the store drivers)
COPY --from=build /src/dist/cli-chunk-*.js ./dist/
COPY --chmod=0755 scripts/docker-entrypoint.sh /usr/local/bin/dman-entrypoint
USER dman:dman
EXPOSE 3626
VOLUME ["/data"]
# node, not curl: the slim image has no curl. The entry point finds the port from DMAN_ADDR.
HEALTHCHECK --interval=30s --timeout=5s --start-period=15s --retries=3 \
  CMD ["/usr/local/bin/dman-entrypoint", "healthcheck"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/dman-entrypoint"]
CMD ["serve"]
