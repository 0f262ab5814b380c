# canary-guard image: a static binary on a distroless, non-root base.
#   docker build -t canary-guard:dev .
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY cmd ./cmd
COPY policy ./policy
COPY rego ./rego
COPY webhook ./webhook
COPY certs ./certs
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/canary-guard ./cmd/canary-guard

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/canary-guard /canary-guard
USER 65532:65532
ENTRYPOINT ["/canary-guard"]
CMD ["serve"]
