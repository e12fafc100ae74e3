# Build: docker build -t crm .
# Run:   docker run -e DATABASE_URL=... -e CRM_JWT_SECRET=... -p 8080:8080 crm
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY migrations ./migrations
# Needed by tests/ and benches declared in Cargo.toml, not by the binary; keep the manifest valid.
COPY tests ./tests
RUN cargo build --release --locked --bin crm

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /nonexistent --shell /usr/sbin/nologin crm
COPY --from=build /src/target/release/crm /usr/local/bin/crm
USER crm
ENV CRM_BIND=0.0.0.0:8080 RUST_LOG=info
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/crm"]
CMD ["serve"]
