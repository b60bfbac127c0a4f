# One place for the project's commands; `make test` is what the README and CI run.
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: setup check format test unit integration faults docker images broker broker-stop replay-synthetic demo worker

setup:  ## install everything: Debian packages, virtualenv, torch, the project, Kafka jars
	scripts/setup

check:  ## lint, format check and strict types
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format:  ## apply ruff's fixes and formatting
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

test: setup check  ## set up, check, then all tests (the integration tests start their own broker)
	$(BIN)/pytest

unit:  ## the unit tests alone: no broker, seconds
	$(BIN)/pytest tests/unit

integration:  ## the integration tests alone, against a real broker
	$(BIN)/pytest tests/integration

faults:  ## the fault tests alone: broker outages, poison input, lost topics, bad models
	$(BIN)/pytest tests/faults

docker:  ## the docker compose tests alone: images built here, the stack run and checked
	$(BIN)/pytest tests/docker

images:  ## build every image compose runs without a registry, and point .env at them
	deploy/docker/build-images

broker:  ## start the local Kafka broker on 127.0.0.1:9092 and create the topics
	deploy/kafka/kafka-local start
	deploy/kafka/kafka-local create-topics

replay-synthetic:  ## replay 20,000 synthetic readings onto readings.synthetic
	$(BIN)/anomstream replay synthetic --rate 2000 --limit 20000

demo: setup  ## the main job: train, broker, worker, exporter, replay, live alerts, summary
	scripts/demo

worker:  ## the stream worker in the foreground (settings: ANOMSTREAM_WORKER_*)
	$(BIN)/anomstream worker

broker-stop:
	deploy/kafka/kafka-local stop
