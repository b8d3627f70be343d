# lit configuration: .xir and .test files under tests/lit, one directory a topic.
import os
import lit.formats

config.name = "xbarc"
config.test_format = lit.formats.ShTest(execute_external=False)
config.suffixes = [".xir", ".test"]
config.excludes = ["Inputs"]
config.test_source_root = os.path.dirname(__file__)
config.test_exec_root = os.path.join(config.xbarc_tests_bin_dir, "lit-out")

config.environment["PATH"] = os.pathsep.join(
    [config.xbarc_bin_dir, config.xbarc_tests_bin_dir, config.llvm_tools_dir,
     config.environment.get("PATH", "")])
for var in ("ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS"):
    if var in os.environ:
        config.environment[var] = os.environ[var]
# Long full-data-set runs are left to the optimized build; sanitized builds
# run the same checks on a prefix of the data (see tests/lit/models).
if config.sanitized:
    config.available_features.add("asan")
config.substitutions.append(("%models", os.path.join(config.xbarc_source_dir, "models")))
config.substitutions.append(("%scripts", os.path.join(config.xbarc_source_dir, "scripts")))
config.substitutions.append(("%bindir", config.xbarc_bin_dir))
config.substitutions.append(("%testdata", config.onnx_testdata))
config.substitutions.append(("%inputs", os.path.join(config.test_source_root, "Inputs")))
