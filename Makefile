# reelstream — the commands a newcomer needs:
#   make serve   install what is needed, then run everything on http://127.0.0.1:8000/
#   make test    install what is needed, then run the test suite (everything; what CI runs:
#                the unit tier in parallel, then the process-starting tiers one at a time)
#   make test-fast  the unit tier: no browser, no engines, no end-to-end processes (~2 min;
#                three xdist workers: the tests wait on I/O often enough to use a third)
#   make check   lint (ruff), format check, type-check (mypy) and the import contracts
#   make cluster the scale-out stack on this machine (PostgreSQL, Redis, Swift, nginx; see README)
.PHONY: serve cluster test test-fast check format install assets bench clean

VENV_STAMP := .venv/.stamp-install
ASSETS_STAMP := src/reelstream/web/static/vendor/.stamp

install: $(VENV_STAMP)
assets: $(ASSETS_STAMP)

$(VENV_STAMP): pyproject.toml scripts/bootstrap.sh
	bash scripts/bootstrap.sh
	touch $@

$(ASSETS_STAMP): src/reelstream/web/frontend/package.json src/reelstream/web/frontend/package-lock.json scripts/build-assets.sh | $(VENV_STAMP)
	bash scripts/build-assets.sh
	touch $@

serve: install assets
	REELSTREAM_ENV=$${REELSTREAM_ENV:-development} .venv/bin/reelstream serve

cluster: install assets
	.venv/bin/reelstream cluster up $(CLUSTER_ARGS)

# the unit tier in three xdist workers, then the process-starting tiers one test at a time
# (they pin CPUs and time servers: they must not share the two cores with each other)
test: install assets
	.venv/bin/python -m pytest -n 3 -m "not e2e and not browser and not engine" $(PYTEST_ARGS)
	.venv/bin/python -m pytest -m "e2e or browser or engine" $(PYTEST_ARGS)

test-fast: install assets
	.venv/bin/python -m pytest -n 3 -m "not e2e and not browser and not engine" $(PYTEST_ARGS)

check: install
	.venv/bin/ruff check src tests benchmarks
	.venv/bin/ruff format --check src tests benchmarks
	.venv/bin/mypy
	.venv/bin/lint-imports

format: install
	.venv/bin/ruff check --fix src tests benchmarks
	.venv/bin/ruff format src tests benchmarks

bench: install assets
	.venv/bin/python benchmarks/transcode_ladder.py

clean:
	rm -rf .venv src/reelstream/web/static/vendor src/reelstream/web/frontend/node_modules
