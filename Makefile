# Two commands a new user needs: `make book` and `make test`.
# Both create .venv from requirements.txt when it is missing or older than
# requirements.txt / pyproject.toml, and install the package (editable).

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PIP_NET := --retries 10 --timeout 60 --resume-retries 10

.PHONY: book quick-book test setup browser clean-venv

setup: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --retries 10 --timeout 60 --upgrade pip
	@# PyPI downloads can break off mid-file on slow links: pip resumes them,
	@# and the whole install is retried twice before giving up.
	@for attempt in 1 2 3; do \
	  $(BIN)/python -m pip install --quiet $(PIP_NET) -r requirements.txt && break; \
	  if [ $$attempt = 3 ]; then echo "pip install failed 3 times (see the errors above)" >&2; exit 1; fi; \
	  echo "pip install failed (attempt $$attempt of 3); retrying in 10 s" >&2; sleep 10; \
	done
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 >/dev/null
	@touch $(STAMP)

# Headless Chromium for the browser test; installed from Debian when missing
# and we are allowed to (root with apt-get). Otherwise the browser test skips
# with a message saying how to install it.
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing Debian chromium for the browser test"; \
	    (apt-get install -y -qq chromium >/dev/null 2>&1 || \
	     (apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq chromium >/dev/null 2>&1)) || \
	    echo "warning: could not install chromium; the browser test will be skipped"; \
	  else echo "chromium not found: the browser test will be skipped (apt-get install chromium)"; fi; }

book: setup
	$(BIN)/seu render

quick-book: setup
	$(BIN)/seu render --quick

test: setup browser
	$(BIN)/python -m pytest

clean-venv:
	rm -rf $(VENV)
