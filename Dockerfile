# readsim's image: `docker build -t readsim:dev .` (deploy/k8s/ runs it; docs/distributed.md).
# Stage 1 builds the release binary with the toolchain readsim is developed with; stage 2 is
# a small Debian runtime (glibc, /bin/sh and tar for the merge Job and `kubectl cp`) running
# as an unprivileged user. SQLite is compiled in (rusqlite's `bundled`); readsim speaks ws://
# and http:// only, so no TLS roots are needed.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin readsim \
    && strip target/release/readsim

FROM debian:bookworm-slim
RUN useradd --system --uid 10001 --user-group --home-dir /work --create-home \
        --shell /usr/sbin/nologin readsim
COPY --from=build /src/target/release/readsim /usr/local/bin/readsim
COPY scenarios /usr/share/readsim/scenarios
USER 10001:10001
WORKDIR /work
ENTRYPOINT ["readsim"]
CMD ["--help"]
