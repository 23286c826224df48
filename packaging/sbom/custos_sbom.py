#!/usr/bin/env python3
"""Custos's software bill of materials, CycloneDX 1.5 JSON, written from a
build's own facts rather than by hand:

  package  the programs a build ships (their SHA-256), every library they
           load (ldd) and every Debian package whose headers were compiled
           into them (ninja's dependency log), each with its version and
           licences from dpkg;
  image    every Debian package installed in a root file system (dpkg's
           database there) with its version and licences;
  validate a document against the CycloneDX 1.5 JSON schema.

The document is dated SOURCE_DATE_EPOCH and its serial number is derived
from its contents, so that the same build writes the same bytes.
"""
import argparse
import hashlib
import json
import os
import re
import subprocess
import sys
import uuid
from datetime import datetime, timezone
from pathlib import Path

# The Debian copyright format's short names (DEP-5) that differ from SPDX
# identifiers, or that SPDX spells differently; others are taken as they
# are when SPDX knows them (validate checks every id against its list).
DEBIAN_TO_SPDX = {
    "expat": "MIT",
    "mit": "MIT",
    "bsd-2-clause": "BSD-2-Clause",
    "bsd-3-clause": "BSD-3-Clause",
    "bsd-4-clause": "BSD-4-Clause",
    "isc": "ISC",
    "apache-2.0": "Apache-2.0",
    "zlib": "Zlib",
    "boost-1.0": "BSL-1.0",
    "bsl-1.0": "BSL-1.0",
    "mpl-2.0": "MPL-2.0",
    "cc0-1.0": "CC0-1.0",
    "openssl": "OpenSSL",
    "openldap-2.8": "OLDAP-2.8",
    "gpl-2": "GPL-2.0-only",
    "gpl-2+": "GPL-2.0-or-later",
    "gpl-2.0": "GPL-2.0-only",
    "gpl-2.0+": "GPL-2.0-or-later",
    "gpl-3": "GPL-3.0-only",
    "gpl-3+": "GPL-3.0-or-later",
    "gpl-3.0+": "GPL-3.0-or-later",
    "lgpl-2": "LGPL-2.0-only",
    "lgpl-2+": "LGPL-2.0-or-later",
    "lgpl-2.1": "LGPL-2.1-only",
    "lgpl-2.1+": "LGPL-2.1-or-later",
    "lgpl-3": "LGPL-3.0-only",
    "lgpl-3+": "LGPL-3.0-or-later",
    "artistic": "Artistic-1.0-Perl",
    "artistic-2.0": "Artistic-2.0",
    "psf-2": "PSF-2.0",
    "unlicense": "Unlicense",
    "curl": "curl",
    "x11": "X11",
    "ofl-1.1": "OFL-1.1",
    "ftl": "FTL",
    "wtfpl": "WTFPL",
}

SCHEMA_FILES = ("bom-1.5.SNAPSHOT.schema.json", "spdx.SNAPSHOT.schema.json", "jsf-0.82.SNAPSHOT.schema.json")


def run(command, check=True):
    return subprocess.run(command, check=check, capture_output=True, text=True).stdout


def sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def is_elf(path):
    with open(path, "rb") as file:
        return file.read(4) == b"\x7fELF"


def owners(paths, admindir):
    """Which installed package owns each path (merged /usr tried both ways)."""
    owner_of = {}
    candidates = {}
    for path in paths:
        names = {path, os.path.realpath(path)}
        for name in list(names):
            if name.startswith("/usr/lib/") or name.startswith("/usr/bin/") or name.startswith("/usr/sbin/"):
                names.add(name[len("/usr"):])
            elif name.startswith("/lib") or name.startswith("/bin/") or name.startswith("/sbin/"):
                names.add("/usr" + name)
        candidates[path] = names
    everything = sorted({name for names in candidates.values() for name in names})
    found = {}
    for start in range(0, len(everything), 200):
        output = run(["dpkg-query", f"--admindir={admindir}", "-S", *everything[start:start + 200]], check=False)
        for line in output.splitlines():
            packages, _, path = line.partition(": ")
            if "diversion" in packages:
                continue
            found[path] = packages.split(",")[0].strip().split(":")[0]
    for path, names in candidates.items():
        for name in sorted(names):
            if name in found:
                owner_of[path] = found[name]
                break
    return owner_of


def package_facts(names, admindir):
    fields = "${Package}\t${Version}\t${Architecture}\t${source:Package}\n"
    output = run(["dpkg-query", f"--admindir={admindir}", "-W", "-f", fields, *sorted(names)])
    facts = {}
    for line in output.splitlines():
        name, version, architecture, source = line.split("\t")
        facts[name] = {"version": version, "architecture": architecture, "source": source}
    return facts


def spdx_id(name):
    return DEBIAN_TO_SPDX.get(name.lower())


def licences(root, package):
    """The licences a package's DEP-5 copyright file names, as CycloneDX
    licence choices: SPDX ids where the name maps to one, else the name."""
    path = Path(root, "usr/share/doc", package, "copyright")
    if not path.exists():
        return [{"license": {"name": "no copyright file"}}]
    text = path.read_text(errors="replace")
    if not text.startswith("Format:"):
        return [{"license": {"name": f"see /usr/share/doc/{package}/copyright (not machine-readable)"}}]
    names = []
    in_files_paragraph = False
    for paragraph in re.split(r"\n\s*\n", text):
        in_files_paragraph = bool(re.search(r"^Files:", paragraph, re.M))
        match = re.search(r"^License:[ \t]*(.+)$", paragraph, re.M)
        if in_files_paragraph and match:
            for name in re.split(r"\s+(?:or|and)\s+|,\s*", match.group(1).strip(), flags=re.I):
                if name and name not in names:
                    names.append(name)
    if not names:
        return [{"license": {"name": f"see /usr/share/doc/{package}/copyright"}}]
    choices = []
    for name in names:
        identifier = spdx_id(name)
        choices.append({"license": {"id": identifier} if identifier else {"name": name}})
    return choices


def debian_component(name, facts, root, linkage):
    fact = facts[name]
    architecture = fact["architecture"]
    component = {
        "type": "library" if linkage in ("dynamic", "compiled-in") else "application",
        "bom-ref": f"deb:{name}",
        "name": name,
        "version": fact["version"],
        "purl": f"pkg:deb/debian/{name}@{fact['version']}?arch={architecture}&distro=debian-12",
        "licenses": licences(root, name),
        "properties": [{"name": "custos:linkage", "value": linkage}],
    }
    if fact["source"] and fact["source"] != name:
        component["properties"].append({"name": "debian:source", "value": fact["source"]})
    return component


def document(metadata_component, components, dependencies):
    epoch = int(os.environ.get("SOURCE_DATE_EPOCH", "0"))
    body = {
        "metadata": {
            "timestamp": datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "tools": {"components": [{"type": "application", "name": "custos_sbom.py", "group": "custos"}]},
            "component": metadata_component,
        },
        "components": components,
        "dependencies": dependencies,
    }
    serial = uuid.uuid5(uuid.NAMESPACE_URL, "custos-sbom:" + json.dumps(body, sort_keys=True))
    return {"bomFormat": "CycloneDX", "specVersion": "1.5", "serialNumber": f"urn:uuid:{serial}", "version": 1, **body}


def write(path, bom):
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as file:
        json.dump(bom, file, indent=1, sort_keys=True)
        file.write("\n")
    os.chmod(path, 0o644)


def shipped_files(root, skip):
    for path in sorted(Path(root).rglob("*")):
        relative = path.relative_to(root)
        if path.is_file() and not path.is_symlink() and relative.parts[0] != "DEBIAN" and str(relative) != skip:
            yield relative, path


def compiled_headers(build_dir, targets):
    """The system headers the objects of the shipped programs were compiled
    from, as ninja recorded them."""
    inputs = run(["ninja", "-C", build_dir, "-t", "inputs", *targets]).split()
    objects = [name for name in inputs if name.endswith(".o")]
    headers = {name for name in inputs if name.startswith("/usr/")}
    deps = run(["ninja", "-C", build_dir, "-t", "deps", *objects])
    for line in deps.splitlines():
        if line.startswith("    /usr/"):
            headers.add(line.strip())
    return headers


def loaded_libraries(programs):
    libraries = set()
    for program in programs:
        for line in run(["ldd", str(program)]).splitlines():
            match = re.search(r"(/\S+)\s+\(0x", line)
            if match:
                libraries.add(match.group(1))
    return libraries


def package_sbom(arguments):
    root = Path(arguments.root)
    out_relative = os.path.relpath(arguments.out, root)
    files = list(shipped_files(root, out_relative))
    programs = [path for _, path in files if is_elf(path)]
    loaded = owners(loaded_libraries(programs), "/var/lib/dpkg")
    targets = ["bin/custos", "bin/custos-cli", "bin/custosd", "bin/custos-module-host", "bin/custos-exit-ldap.so", "bin/custos-http"]
    compiled = owners(compiled_headers(arguments.build_dir, targets), "/var/lib/dpkg")
    dynamic = set(loaded.values())
    facts = package_facts(dynamic | set(compiled.values()), "/var/lib/dpkg")
    # Headers from the source package of a loaded library (libssl-dev for
    # libssl3) declare what that library defines: the library names them.
    # The rest were compiled in (header-only libraries, kernel headers).
    linked_sources = {facts[name]["source"] for name in dynamic}
    compiled_in = {name for name in compiled.values() if facts[name]["source"] not in linked_sources}
    components = [debian_component(name, facts, "/", "dynamic") for name in sorted(dynamic)]
    components += [debian_component(name, facts, "/", "compiled-in") for name in sorted(compiled_in)]

    custos = {
        "type": "application",
        "bom-ref": "custos",
        "name": "custos",
        "version": arguments.version,
        "description": "certificate authority whose keys never leave a PKCS#11 token",
        "licenses": [{"license": {"name": "LicenseRef-Custos (no licence granted yet; all rights reserved)"}}],
        "purl": f"pkg:deb/debian/custos@{arguments.version}?arch={arguments.architecture}",
        "properties": [{"name": "custos:git-revision", "value": arguments.revision}],
        "components": [
            {"type": "file", "bom-ref": f"file:/{relative}", "name": f"/{relative}",
             "hashes": [{"alg": "SHA-256", "content": sha256(path)}]}
            for relative, path in files
        ],
    }
    dependencies = [{"ref": "custos", "dependsOn": [component["bom-ref"] for component in components]}]
    write(arguments.out, document(custos, components, dependencies))


def image_sbom(arguments):
    root = Path(arguments.root)
    admindir = str(root / "var/lib/dpkg")
    installed = run(["dpkg-query", f"--admindir={admindir}", "-W", "-f", "${db:Status-Abbrev}\t${Package}\n"])
    names = {line.split("\t")[1] for line in installed.splitlines() if line.startswith("ii")}
    facts = package_facts(names, admindir)
    components = [debian_component(name, facts, root, "installed") for name in sorted(names)]
    image = {"type": "operating-system", "bom-ref": "image", "name": arguments.name, "version": arguments.version,
             "description": "Debian 12 root file system holding Custos"}
    dependencies = [{"ref": "image", "dependsOn": [component["bom-ref"] for component in components]}]
    write(arguments.out, document(image, components, dependencies))


def validate(arguments):
    # python3-jsonschema (Debian): the schema's $refs name its sibling files
    # by their addresses on cyclonedx.org; each is registered under those
    # so that nothing is fetched.
    import jsonschema
    import jsonschema._utils
    import jsonschema._validators

    # jsonschema 4.10 (Debian 12) sorts the extra items of an array to name
    # them in an error message, which raises TypeError on objects: a list
    # of several licences fails CycloneDX's one-expression alternative that
    # way. Name them unsorted.
    def extras_message(extras):
        return ", ".join(repr(extra) for extra in extras), "was" if len(extras) == 1 else "were"
    jsonschema._utils.extras_msg = extras_message
    jsonschema._validators.extras_msg = extras_message

    schemas = {}
    for name in SCHEMA_FILES:
        schema = json.loads(Path(arguments.schema_dir, name).read_text())
        schemas[schema["$id"]] = schema
        schemas["http://cyclonedx.org/schema/" + name] = schema
    bom_schema = json.loads(Path(arguments.schema_dir, SCHEMA_FILES[0]).read_text())
    resolver = jsonschema.RefResolver.from_schema(bom_schema, store=schemas)
    validator = jsonschema.Draft7Validator(bom_schema, resolver=resolver)
    failed = False
    for path in arguments.files:
        errors = sorted(validator.iter_errors(json.loads(Path(path).read_text())), key=lambda error: error.path)
        for error in errors[:20]:
            print(f"{path}: {'/'.join(map(str, error.path))}: {error.message[:300]}", file=sys.stderr)
        if errors:
            failed = True
        else:
            bom = json.loads(Path(path).read_text())
            print(f"{path}: valid CycloneDX {bom['specVersion']}, {len(bom['components'])} components")
    return 1 if failed else 0


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    package = commands.add_parser("package", help="the SBOM of a built package's tree")
    package.add_argument("--build-dir", required=True, help="the CMake/ninja build directory")
    package.add_argument("--root", required=True, help="the package's file tree (debian/custos)")
    package.add_argument("--version", required=True)
    package.add_argument("--revision", required=True, help="the git revision built")
    package.add_argument("--architecture", required=True)
    package.add_argument("--out", required=True)
    image = commands.add_parser("image", help="the SBOM of a root file system")
    image.add_argument("--root", required=True)
    image.add_argument("--name", required=True)
    image.add_argument("--version", required=True)
    image.add_argument("--out", required=True)
    check = commands.add_parser("validate", help="validate against the CycloneDX 1.5 schema")
    check.add_argument("--schema-dir", required=True, help=f"holding {', '.join(SCHEMA_FILES)}")
    check.add_argument("files", nargs="+")
    arguments = parser.parse_args()
    if arguments.command == "package":
        package_sbom(arguments)
    elif arguments.command == "image":
        image_sbom(arguments)
    else:
        return validate(arguments)
    return 0


if __name__ == "__main__":
    sys.exit(main())
