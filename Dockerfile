# zombietrace image: a static binary on distroless. The build stage runs
# the same command as CI, `make build`, which compiles with CGO_ENABLED=0,
# so the binary needs no libc. The BPF objects are compiled into it.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# VERSION is passed to make because .dockerignore leaves .git out of the
# build context, so the version cannot come from git here.
ARG VERSION=dev
RUN make build VERSION=${VERSION}

FROM gcr.io/distroless/static-debian12
COPY --from=build /src/bin/zombietrace /zombietrace
# Root without privileges: the DaemonSet drops every capability but
# CAP_BPF, CAP_PERFMON and CAP_SYS_RESOURCE.
USER 0:0
ENTRYPOINT ["/zombietrace"]
