# Siyu CRM. `make run` and `make test` are all a fresh machine needs (see README.md).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PG_URL ?= postgres://postgres@127.0.0.1:5432/test
REDIS ?= redis://127.0.0.1:6379/0

.PHONY: install run test test-services e2e bench check-deploy messages

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

## Migrate, create the demo workspace once, then web + Celery worker + beat until Ctrl-C.
run: install
	bash scripts/run.sh

## The whole suite on SQLite with Celery eager: no server needed.
test: install
	$(BIN)/pytest -m "not e2e and not services"

## The same suite on PostgreSQL and Redis, plus the tests that need a real Celery worker.
test-services: install
	DATABASE_URL=$(PG_URL) REDIS_URL=$(REDIS) SIYU_REQUIRE_SERVICES=1 $(BIN)/pytest -m "not e2e"

## Browser tests: Debian's Chromium driven by Playwright.
e2e: install
	$(BIN)/pytest -m e2e

## Benchmarks on PostgreSQL with 1,000,000 contacts; results go to docs/performance.md.
bench: install
	bash tests/bench/run.sh

check-deploy: install
	DJANGO_ENV=production SECRET_KEY=check-only-$$(head -c 32 /dev/urandom | base64) ALLOWED_HOSTS=crm.example.com \
		DATABASE_URL=postgres://postgres@127.0.0.1:5432/test REDIS_URL=$(REDIS) \
		$(BIN)/python manage.py check --deploy --fail-level WARNING

## Regenerate and compile the translation catalogues after changing user-facing text.
messages: install
	$(BIN)/python manage.py makemessages -l zh_Hans --ignore '.venv/*' --ignore 'var/*' --ignore 'campaigns/*' \
	  --ignore 'templates/campaigns/*' --ignore 'moments/*' --ignore 'templates/moments/*' \
	  --ignore 'referrals/*' --ignore 'templates/referrals/*' --ignore 'wecom/*' --ignore 'templates/wecom/*' \
	  --ignore 'reports/*' --ignore 'templates/reports/*'
	# campaigns, moments, referrals, wecom and reports have their own catalogues; makemessages files a string under the nearest
	# locale/ folder above it, so a scratch folder puts each app and its templates under its own locale/.
	for app in campaigns moments referrals wecom reports; do \
	  tmp=$$(mktemp -d) && ln -s $(CURDIR)/$$app $$tmp/$$app && ln -s $(CURDIR)/templates/$$app $$tmp/templates && \
	  ln -s $(CURDIR)/$$app/locale $$tmp/locale && (cd $$tmp && $(CURDIR)/$(BIN)/python $(CURDIR)/manage.py makemessages -l zh_Hans --symlinks); \
	  status=$$?; rm -rf $$tmp; [ $$status -eq 0 ] || exit $$status; \
	done
	$(BIN)/python manage.py compilemessages --ignore '.venv/*'
