# The anomstream Python services (worker, exporter, replay, train, ...), CPU torch by default.
#   docker build -t anomstream .                                    # official python image, CPU torch
#   docker build -t anomstream:cuda --build-arg TORCH_INDEX_URL=https://download.pytorch.org/whl/cu126 .
#   docker build --build-arg TORCH=none ...                         # classic detectors only (smaller)
#   docker build --build-arg PIP_CA_BUNDLE="$(cat corp-ca.pem)" ... # behind a TLS-intercepting proxy
# Without a registry, deploy/docker/build-images builds this on a Debian base made by debootstrap.
# The CUDA image runs the worker on a GPU with docker-compose.gpu.yml.
ARG BASE_IMAGE=python:3.11-slim

FROM ${BASE_IMAGE} AS build
# index: torch from TORCH_INDEX_URL (PyTorch's CPU wheels by default, a fraction of the CUDA
# build's size); pypi: PyPI's own build (CUDA on Linux); none: no torch, classic detectors only.
ARG TORCH=index
ARG TORCH_VERSION=2.13.0
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
# Extra CA certificates (PEM text) that pip must trust, e.g. a corporate proxy's. Used in
# this stage only: the final image holds the virtualenv, not the bundle.
ARG PIP_CA_BUNDLE=""
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
# Dependencies first: their layer is reused while only the project's code changes.
COPY pyproject.toml README.md ./
COPY deploy/docker/pip-install ./deploy/docker/pip-install
RUN python3 -m venv /opt/anomstream && \
    TORCH="$TORCH" TORCH_VERSION="$TORCH_VERSION" TORCH_INDEX_URL="$TORCH_INDEX_URL" \
    PIP_CA_BUNDLE="$PIP_CA_BUNDLE" sh deploy/docker/pip-install deps /opt/anomstream
COPY anomstream ./anomstream
COPY schemas ./schemas
COPY producers ./producers
COPY detectors ./detectors
COPY evaluation ./evaluation
COPY stream_app ./stream_app
COPY consumers ./consumers
COPY retraining ./retraining
COPY web ./web
RUN sh deploy/docker/pip-install project /opt/anomstream

FROM ${BASE_IMAGE}
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PATH=/opt/anomstream/bin:$PATH
COPY --from=build /opt/anomstream /opt/anomstream
RUN useradd --create-home --uid 10001 anomstream && \
    mkdir -p /models /data && chown anomstream /models /data
USER anomstream
WORKDIR /home/anomstream

# Models and data are volumes; every setting is an ANOMSTREAM_* environment variable.
ENV ANOMSTREAM_MODELS_DIR=/models ANOMSTREAM_DATA_DIR=/data
ENTRYPOINT ["anomstream"]
CMD ["--help"]
