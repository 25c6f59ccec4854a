"""template.yaml is consistent with the code: handlers import, routes are served, queues are wired as AWS advises."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from imgapi_local.events import LambdaContext, http_event
from imgapi_local.handlers import load_handler
from imgapi_local.template import ROOT, functions, http_routes, load_template

TEMPLATE = load_template()
SPECS = {spec.logical_id: spec for spec in functions(TEMPLATE)}
RUNTIME = f"python{sys.version_info.major}.{sys.version_info.minor}"


def test_sam_validate_lint_passes():
    env = {**os.environ, "SAM_CLI_TELEMETRY": "0", "AWS_DEFAULT_REGION": "us-east-1"}
    sam = Path(sys.executable).with_name("sam")
    result = subprocess.run([str(sam), "validate", "--lint"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "is a valid SAM Template" in result.stdout + result.stderr


@pytest.mark.slow
def test_sam_build_of_a_zip_function_and_its_layer(tmp_path):
    """`sam build` with the Python on PATH: the layer's wheels must exist for the Lambda runtime's platform.
    (One function: the others share its layer, runtime and shape, and each build rebuilds the layer.)"""
    env = {**os.environ, "SAM_CLI_TELEMETRY": "0", "AWS_DEFAULT_REGION": "us-east-1",
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    sam = Path(sys.executable).with_name("sam")
    result = subprocess.run([str(sam), "build", "LoginFunction", "--build-dir", str(tmp_path)],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    layer = tmp_path / "SharedLayer" / "python"
    assert (layer / "imgapi" / "__init__.py").exists() and (layer / "PIL").is_dir() and (layer / "jwt").is_dir()
    assert (tmp_path / "LoginFunction" / "app.py").exists()


@pytest.mark.parametrize("logical_id", sorted(SPECS))
def test_every_function_points_at_a_handler_that_imports(logical_id):
    assert callable(load_handler(SPECS[logical_id]))


# What the zip functions do not have: only the image worker's container installs these.
WORKER_ONLY = ["numpy", "cv2", "onnxruntime", "rembg", "pymatting", "scipy", "skimage", "numba", "pooch"]


@pytest.mark.parametrize("logical_id", sorted(s.logical_id for s in SPECS.values() if s.properties.get("PackageType") != "Image"))
def test_zip_functions_import_with_only_the_layers_packages(logical_id):
    """The layer ships the layer's requirements only; a zip handler importing numpy would crash in Lambda."""
    script = f"""
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {WORKER_ONLY!r}:
            raise ImportError(f"{{name}} is not in the layer")
sys.meta_path.insert(0, Block())
from imgapi_local.handlers import load_handler
from imgapi_local.template import functions, load_template
spec = next(s for s in functions(load_template()) if s.logical_id == {logical_id!r})
assert callable(load_handler(spec))
"""
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]


def test_zip_functions_and_layer_use_the_python_the_tests_run():
    for spec in SPECS.values():
        if spec.properties.get("PackageType") != "Image":
            assert spec.properties["Runtime"] == RUNTIME, spec.logical_id
            assert spec.properties["Layers"] == [{"Ref": "SharedLayer"}], spec.logical_id
    layer = TEMPLATE["Resources"]["SharedLayer"]
    assert layer["Properties"]["CompatibleRuntimes"] == [RUNTIME]
    assert layer["Metadata"]["BuildMethod"] == RUNTIME
    assert (ROOT / layer["Properties"]["ContentUri"] / "imgapi" / "__init__.py").exists()


def test_globals_do_not_set_what_breaks_the_image_function():
    assert not {"Runtime", "Handler", "Layers", "CodeUri"} & set(TEMPLATE["Globals"]["Function"])


@pytest.mark.parametrize("route", http_routes(TEMPLATE), ids=lambda r: f"{r.method} {r.path}")
def test_every_route_is_served_by_its_function(stack, route):
    path = re.sub(r"\{[^}]+\}", "x", route.path)
    params = {name: "x" for name in re.findall(r"\{([^}]+)\}", route.path)} or None
    event = http_event(route.method, path, route_key=f"{route.method} {route.path}", path_parameters=params)
    response = load_handler(SPECS[route.function])(event, LambdaContext(route.function))
    # Anything but the resolver's "no such route": login refuses empty credentials, others want a token.
    assert '"code": "not_found"' not in (response.get("body") or "")
    # remove.bg's API refuses a missing key with remove.bg's 403.
    assert response["statusCode"] in ((200, 400, 401) if not route.path.startswith("/v1.0/") else (403,))


def test_queue_workers_are_wired_for_partial_batch_responses_and_redrive():
    resources = TEMPLATE["Resources"]
    sqs_sources = [(spec, event) for spec in SPECS.values() for event in spec.events.values() if event["Type"] == "SQS"]
    assert sqs_sources
    max_receive = TEMPLATE["Globals"]["Function"]["Environment"]["Variables"]["MAX_RECEIVE_COUNT"]
    for spec, event in sqs_sources:
        props = event["Properties"]
        assert props["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
        assert "MaximumConcurrency" in props["ScalingConfig"]
        queue_id = props["Queue"]["Fn::GetAtt"][0]
        queue = resources[queue_id]["Properties"]
        assert queue["VisibilityTimeout"] >= 6 * spec.properties["Timeout"]
        redrive = queue["RedrivePolicy"]
        assert resources[redrive["deadLetterTargetArn"]["Fn::GetAtt"][0]]["Type"] == "AWS::SQS::Queue"
        assert str(redrive["maxReceiveCount"]) == max_receive


def test_bucket_is_private_encrypted_tls_only_and_expires_uploads_and_results():
    resources = TEMPLATE["Resources"]
    bucket = resources["ImagesBucket"]["Properties"]
    assert all(bucket["PublicAccessBlockConfiguration"].values())
    assert bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"]
    rules = {r["Prefix"]: r["ExpirationInDays"] for r in bucket["LifecycleConfiguration"]["Rules"] if "Prefix" in r}
    assert rules == {"uploads/": {"Ref": "UploadsExpirationDays"}, "inbox/": {"Ref": "UploadsExpirationDays"},
                     "incoming/": 1, "results/": {"Ref": "ResultsExpirationDays"}}
    (statement,) = resources["ImagesBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert statement["Effect"] == "Deny" and statement["Condition"]["Bool"]["aws:SecureTransport"] == "false"


def test_image_worker_dockerfile_matches_the_template_and_the_tested_code():
    spec = SPECS["ImageWorkerFunction"]
    resource = TEMPLATE["Resources"]["ImageWorkerFunction"]
    dockerfile = (ROOT / resource["Metadata"]["Dockerfile"]).read_text()
    python = f"python{sys.version_info.major}.{sys.version_info.minor}"
    assert re.search(r"^FROM public\.ecr\.aws/lambda/provided:al2023$", dockerfile, re.M)
    # The same CPython minor version as the tests, run by AWS's runtime interface client.
    assert f"dnf install -y {python} " in dockerfile
    assert f'ENTRYPOINT ["/usr/bin/{python}", "-m", "awslambdaric"]' in dockerfile
    # The same requirement files and package the tests install and import.
    for source in re.findall(r"^COPY (\S+) ", dockerfile, re.M):
        assert (ROOT / source).exists(), source
    assert "COPY layers/imgapi/imgapi " in dockerfile
    assert f'CMD ["{spec.handler}"]' in dockerfile
    # Models are baked under /opt, never /tmp, and the list agrees with the stack's parameter.
    assert "U2NET_HOME=/opt/" in dockerfile and "/tmp/u2net" not in dockerfile
    assert resource["Properties"]["Environment"]["Variables"]["U2NET_HOME"].startswith("/opt/")
    build_arg = resource["Metadata"]["DockerBuildArgs"]["REMBG_MODELS"]
    assert build_arg == TEMPLATE["Parameters"]["RembgModels"]["Default"]
    assert re.search(rf"^ARG REMBG_MODELS={re.escape(build_arg)}$", dockerfile, re.M)
    # numba's compile happens in the build, not on a cold start.
    assert f'RUN {python} -c "import rembg.bg"' in dockerfile
    # One Architecture for every function (the worker image included), the layer and the layer's build.
    assert TEMPLATE["Globals"]["Function"]["Architectures"] == [{"Ref": "Architecture"}]
    assert TEMPLATE["Parameters"]["Architecture"]["Default"] == "x86_64"
    assert TEMPLATE["Parameters"]["Architecture"]["AllowedValues"] == ["x86_64", "arm64"]
    layer = TEMPLATE["Resources"]["SharedLayer"]
    assert layer["Properties"]["CompatibleArchitectures"] == [{"Ref": "Architecture"}]
    assert layer["Metadata"]["BuildArchitecture"] == {"Ref": "Architecture"}
    assert not [name for name, r in TEMPLATE["Resources"].items() if "Architectures" in r.get("Properties", {})]
    # Each model's optimised graph is made in the image build, after the package it runs is in the image.
    assert dockerfile.index("python3.11 -m imgapi.engine.model_prep") > dockerfile.index("COPY layers/imgapi/imgapi ")


def test_every_function_has_a_sample_event():
    """events/<code folder>_*.json (or <code folder>.json) for every function, for `sam local invoke -e`."""
    events = [p.name for p in (ROOT / "events").glob("*.json")]
    for spec in SPECS.values():
        assert any(name.startswith(spec.code_dir.name) for name in events), spec.logical_id


def test_alarms_watch_every_dead_letter_queue_job_queue_and_queue_worker():
    resources = TEMPLATE["Resources"]
    alarms = [r["Properties"] for r in resources.values() if r["Type"] == "AWS::CloudWatch::Alarm"]

    def watched(metric: str, dimension: str) -> set[str]:
        found = set()
        for alarm in alarms:
            if alarm["MetricName"] != metric:
                continue
            for d in alarm["Dimensions"]:
                if d["Name"] == dimension:
                    value = d["Value"]
                    found.add(value.get("Ref") or value.get("Fn::GetAtt", [None])[0])
        return found

    sources = {e["Properties"]["Queue"]["Fn::GetAtt"][0]: spec.logical_id for spec in SPECS.values()
               for e in spec.events.values() if e["Type"] == "SQS"}
    dead_letter = {resources[q]["Properties"]["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"][0] for q in sources}
    assert dead_letter <= watched("ApproximateNumberOfMessagesVisible", "QueueName")
    assert set(sources) <= watched("ApproximateAgeOfOldestMessage", "QueueName")
    assert set(sources.values()) <= watched("Errors", "FunctionName")
    assert all(alarm["AlarmActions"] == [{"Ref": "AlarmTopic"}] for alarm in alarms)


def test_api_gateway_throttles_every_route():
    settings = TEMPLATE["Resources"]["HttpApi"]["Properties"]["DefaultRouteSettings"]
    assert 0 < settings["ThrottlingRateLimit"] <= settings["ThrottlingBurstLimit"]
