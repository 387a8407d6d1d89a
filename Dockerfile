# Renkei as a container image: the one binary, run as a non-root user, its SQLite
# store on a volume.
#
#   docker build -t renkei .
#   docker run -d -p 8080:8080 -v renkei-data:/var/lib/renkei \
#       -e RENKEI_MAIL__FROM='Example CSIRT <csirt@csirt.example>' renkei
#   docker exec -it <container> renkei admin create-user …
#
# For PostgreSQL, set RENKEI_DATABASE_URL=postgres://user@host/db; the volume then
# holds nothing.

FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p renkei \
    && strip target/release/renkei

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates tzdata \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 renkei \
    && useradd --system --uid 10001 --gid renkei --home-dir /var/lib/renkei \
        --shell /usr/sbin/nologin renkei \
    && install -d -o renkei -g renkei -m 0750 /var/lib/renkei
COPY --from=build /src/target/release/renkei /usr/bin/renkei
COPY packaging/container.toml /etc/renkei/renkei.toml
COPY renkei.sample.toml /usr/share/doc/renkei/renkei.sample.toml
ENV RENKEI_CONFIG=/etc/renkei/renkei.toml
USER renkei:renkei
WORKDIR /var/lib/renkei
VOLUME ["/var/lib/renkei"]
EXPOSE 8080
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/bin/renkei"]
CMD ["serve"]
