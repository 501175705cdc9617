# syntax=docker/dockerfile:1

# poolgate container image.
#
#   docker build -t poolgate .
#   docker run -p 8080:8080 -p 9000:9000 -v poolgate-data:/var/lib/poolgate/data poolgate
#
# The image runs `poolgate serve` as the unprivileged user `poolgate` (uid/gid 10001)
# with its working directory /var/lib/poolgate, so the default SQLite store and any
# dev-generated files land in ./data = /var/lib/poolgate/data (a volume).
# Production settings come from POOLGATE_... environment variables
# (see docker-compose.yml); config/ is shipped read-only at /etc/poolgate/config.

############################
# Build stage
############################
FROM rust:1.95-bookworm AS builder

WORKDIR /build

# Whole context (see .dockerignore: no target/, data/, .git/, secrets/).
# src/ may embed files from migrations/ and config/ at compile time.
COPY . .

# The cargo registry and target directory are BuildKit cache mounts, so they are
# not part of any layer; the binary is copied out of target/ in the same step.
RUN --mount=type=cache,target=/usr/local/cargo/registry,sharing=locked \
    --mount=type=cache,target=/usr/local/cargo/git,sharing=locked \
    --mount=type=cache,target=/build/target,sharing=locked \
    cargo build --release --locked --bin poolgate \
    && install -D -m 0755 target/release/poolgate /out/poolgate

############################
# Runtime stage
############################
FROM debian:bookworm-slim AS runtime

LABEL org.opencontainers.image.title="poolgate" \
      org.opencontainers.image.description="Self-hosted user pools, identity pools and scoped storage credentials" \
      org.opencontainers.image.licenses="Apache-2.0"

# ca-certificates: outbound TLS (SMTP, federated OIDC providers, upstream S3).
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/*

RUN groupadd --system --gid 10001 poolgate \
    && useradd --system --uid 10001 --gid poolgate \
        --home-dir /var/lib/poolgate --no-create-home \
        --shell /usr/sbin/nologin poolgate \
    && mkdir -p /var/lib/poolgate/data \
    && chown -R poolgate:poolgate /var/lib/poolgate

COPY --from=builder /out/poolgate /usr/local/bin/poolgate
COPY config/ /etc/poolgate/config/

WORKDIR /var/lib/poolgate

ENV POOLGATE_SERVER__BIND=0.0.0.0:8080

USER 10001:10001

VOLUME /var/lib/poolgate/data

# 8080: REST / OIDC / hosted UI / Cognito JSON / ops; 9000: S3 gateway.
EXPOSE 8080 9000

# `poolgate healthcheck` GETs http://127.0.0.1:8080/health/live and exits 0 or 1,
# so the image needs no curl/wget.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["poolgate", "healthcheck"]

ENTRYPOINT ["poolgate"]
CMD ["serve"]
