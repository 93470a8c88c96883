# One image for every role: `contact-ledger <role>` (api, handler, projector,
# migrate, replay, tenant create, dev, bench).
FROM rust:1.95-bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends cmake pkg-config zlib1g-dev libssl-dev libcurl4-openssl-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cargo build --release -p contact-ledger

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates libssl3 && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/target/release/contact-ledger /usr/local/bin/contact-ledger
ENTRYPOINT ["contact-ledger"]
CMD ["dev", "--http", "0.0.0.0:8080"]
