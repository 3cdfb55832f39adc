# Clusterhub — every set-up step a newcomer or CI needs.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
MANAGE := $(BIN)/python manage.py
HOST ?= 127.0.0.1
PORT ?= 8000
# The demo's links in pages and mail point where it is served (`make demo PORT=8711`).
DEMO_SITE_URL ?= http://$(HOST):$(PORT)

.PHONY: install demo serve test lint format bench worker beat lock clean messages

$(STAMP): pyproject.toml requirements.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c requirements.lock -e '.[dev]'
	touch $(STAMP)

# Translations are compiled from locale/*/LC_MESSAGES/django.po (GNU gettext's msgfmt).
MO_FILES := $(patsubst %.po,%.mo,$(wildcard locale/*/LC_MESSAGES/django.po))
locale/%.mo: locale/%.po
	msgfmt --check-format -o $@ $<

install: $(STAMP) $(MO_FILES)

# Re-extract every marked string into the catalogues (tests/i18n fails when this would
# change them). Translate the new entries, then `make install` compiles them.
LANGS := de fr es it ro
messages: | $(STAMP)
	$(MANAGE) makemessages $(foreach l,$(LANGS),-l $(l)) --add-location file --no-obsolete \
	  --ignore '.venv/*' --ignore 'tests/*' --ignore 'bench/*' --ignore 'staticfiles/*' \
	  --ignore 'var/*' --ignore 'docs/*' --ignore 'node_modules/*'

demo: install
	mkdir -p var
	$(MANAGE) migrate --noinput
	SITE_URL=$(DEMO_SITE_URL) $(MANAGE) seed_demo
	SITE_URL=$(DEMO_SITE_URL) $(MANAGE) runserver $(HOST):$(PORT)

serve: install
	$(MANAGE) runserver $(HOST):$(PORT)

test: install
	$(BIN)/pytest $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(MANAGE) makemigrations --check --dry-run
	DJANGO_SETTINGS_MODULE=config.settings.test $(MANAGE) spectacular --validate --fail-on-warn --file /dev/null
	$(BIN)/pytest -q -p no:cacheprovider tests/i18n

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: install
	$(BIN)/python -m bench $(BENCH)

worker: install
	$(BIN)/celery -A config worker --loglevel=INFO

beat: install
	$(BIN)/celery -A config beat --loglevel=INFO

# Re-pin every dependency (needs network access to PyPI).
lock: install
	$(BIN)/python -m pip install --quiet uv
	$(BIN)/uv pip compile pyproject.toml --extra dev --python-version 3.11 -o requirements.lock

clean:
	rm -rf $(VENV) var .pytest_cache
