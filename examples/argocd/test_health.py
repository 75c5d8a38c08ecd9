"""Runs examples/argocd/health.lua the way Argo CD does, against sample objects in each state.

Argo CD evaluates a health script with gopher-lua (Lua 5.1): the live object is the global
`obj`, and the script returns a table {status, message}. Here lupa runs the script under
Lua 5.1 and Lua 5.4, in an environment holding only the libraries a health script may use,
for every object in testdata/ against the answer recorded in testdata/expectations.yaml.

Run: scripts/test-argocd-health.sh (or `pytest -q examples/argocd`).
"""

import importlib
from pathlib import Path

import jsonschema
import pytest
import yaml

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
TESTDATA = HERE / "testdata"
SCRIPT = (HERE / "health.lua").read_text()
EXPECTATIONS = yaml.safe_load((TESTDATA / "expectations.yaml").read_text())
HEALTH_KEY = "resource.customizations.health.ssmcontacts.oncall.dev_ContactChannelActivation"
ARGO_STATUSES = {"Healthy", "Progressing", "Degraded", "Suspended", "Missing", "Unknown"}

# gopher-lua is Lua 5.1; 5.4 guards against relying on anything version specific.
RUNTIMES = ["lupa.lua51", "lupa.lua54"]

# Loads the script in a sandbox: only what a health script needs, no os/io/require.
LOADER = """
local src, obj = ...
local env = {
  obj = obj, ipairs = ipairs, pairs = pairs, next = next, type = type,
  tostring = tostring, tonumber = tonumber, string = string, table = table, math = math,
}
local chunk, err
if setfenv then
  chunk, err = loadstring(src, "=health.lua")
  if chunk then setfenv(chunk, env) end
else
  chunk, err = load(src, "=health.lua", "t", env)
end
if not chunk then error(err) end
local hs = chunk()
return hs.status, hs.message
"""


def run_health(runtime_module: str, obj: dict) -> tuple[str, str]:
    lupa = importlib.import_module(runtime_module)
    lua = lupa.LuaRuntime(unpack_returned_tuples=True)
    status, message = lua.execute(LOADER, SCRIPT, lua.table_from(obj, recursive=True))
    return status, message


def load(name: str) -> dict:
    return yaml.safe_load((TESTDATA / name).read_text())


@pytest.mark.parametrize("runtime", RUNTIMES)
@pytest.mark.parametrize("name", sorted(EXPECTATIONS))
def test_health_of_each_state(runtime: str, name: str) -> None:
    """Each sample object gets the recorded health status and a message that explains it."""
    expected = EXPECTATIONS[name]
    status, message = run_health(runtime, load(name))
    assert status == expected["status"], f"{name}: {message}"
    assert status in ARGO_STATUSES
    assert expected["message"] in message


def test_every_sample_has_an_expectation() -> None:
    """No sample object is left untested, and no expectation names a missing file."""
    samples = {p.name for p in TESTDATA.glob("*.yaml")} - {"expectations.yaml"}
    assert samples == set(EXPECTATIONS)


def test_every_argo_state_is_covered() -> None:
    """The samples reach all four states the script can answer."""
    assert {e["status"] for e in EXPECTATIONS.values()} == {"Healthy", "Progressing", "Degraded", "Suspended"}


def test_stalled_wins_over_reconciling() -> None:
    """A person must act when Stalled is true, whatever else the conditions say."""
    obj = load("stalled-access-denied.yaml")
    obj["status"]["conditions"].append(
        {"type": "Reconciling", "status": "True", "reason": "AccessDenied", "message": "retrying"}
    )
    assert run_health(RUNTIMES[0], obj)[0] == "Degraded"


def test_configmap_patch_embeds_the_script() -> None:
    """argocd-cm-patch.yaml carries health.lua verbatim under the key Argo CD looks up."""
    patch = yaml.safe_load((HERE / "argocd-cm-patch.yaml").read_text())
    assert patch["kind"] == "ConfigMap" and patch["metadata"]["name"] == "argocd-cm"
    assert patch["data"][HEALTH_KEY] == SCRIPT


def crd_schema() -> dict:
    crd = yaml.safe_load((ROOT / "crds" / "contactchannelactivations.yaml").read_text())
    (version,) = [v for v in crd["spec"]["versions"] if v["name"] == "v1alpha1"]
    return version["schema"]["openAPIV3Schema"]


@pytest.mark.parametrize(
    "path",
    sorted(str(p.relative_to(ROOT)) for p in TESTDATA.glob("*.yaml") if p.name != "expectations.yaml")
    + ["examples/contactchannelactivation.yaml"],
)
def test_samples_match_the_crd(path: str) -> None:
    """The sample objects are ones the API server would accept (spec and status schema)."""
    for document in yaml.safe_load_all((ROOT / path).read_text()):
        jsonschema.validate(document, crd_schema())
