# The anomstream Python services (worker, exporter, replay, train), CPU by default.
#   docker build -t anomstream .                                   # CPU torch
#   docker build -t anomstream:cuda --build-arg TORCH_INDEX_URL=https://download.pytorch.org/whl/cu126 .
# The CUDA image runs the worker on a GPU with docker-compose.gpu.yml (`--gpus`).
FROM python:3.11-slim

ARG TORCH_VERSION=2.13.0
# PyTorch's CPU wheels are a fraction of the CUDA build's size; the CUDA variant overrides it.
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app

RUN pip install "torch==${TORCH_VERSION}" --index-url "${TORCH_INDEX_URL}"
COPY pyproject.toml README.md ./
COPY anomstream ./anomstream
COPY schemas ./schemas
COPY producers ./producers
COPY detectors ./detectors
COPY evaluation ./evaluation
COPY stream_app ./stream_app
COPY consumers ./consumers
RUN pip install . && useradd --create-home --uid 10001 anomstream
USER anomstream

# Models and data are volumes; every setting is an ANOMSTREAM_* environment variable.
ENV ANOMSTREAM_MODELS_DIR=/models ANOMSTREAM_DATA_DIR=/data
ENTRYPOINT ["anomstream"]
CMD ["--help"]
