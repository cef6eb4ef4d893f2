# OpenTasks in a container: one static binary (no cgo: SQLite is modernc's
# pure-Go build) on an empty base image, running as a non-root user. The
# image has no shell and no curl, so its HEALTHCHECK is the binary's own
# `opentasks healthcheck`. docs/operations.md#containers describes it.
#
#   docker build -t opentasks .
#   docker run -p 127.0.0.1:8123:8123 -v opentasks-data:/data opentasks
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# CGO_ENABLED=0 makes the binary static. With .git in the build context,
# go build stamps the commit that `opentasks version` prints.
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/opentasks ./cmd/opentasks \
	&& mkdir -p /out/data

FROM scratch
# CA roots, for tasks delivered to https targets (and for --oauth-token-source google).
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=build /out/opentasks /opentasks
COPY --from=build --chown=65532:65532 /out/data /data
USER 65532:65532
WORKDIR /data
# Listen on every interface inside the container; keep the store on the volume.
# The image is for development networks: it serves without authentication
# unless OPENTASKS_AUTH_TOKENS or OPENTASKS_AUTH_JWKS is set (docs/security.md).
ENV OPENTASKS_ADDR=0.0.0.0:8123 \
	OPENTASKS_ALLOW_UNAUTHENTICATED=true \
	OPENTASKS_STORE=sqlite:/data/opentasks.db
EXPOSE 8123
VOLUME ["/data"]
HEALTHCHECK --interval=10s --timeout=5s --start-period=10s --retries=3 \
	CMD ["/opentasks", "healthcheck"]
ENTRYPOINT ["/opentasks"]
CMD ["serve"]
