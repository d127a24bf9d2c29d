#!/usr/bin/env python3
"""Checks the IOC API's open-data catalogue as JSON-LD, with a JSON-LD processor independent of the
API's code (pyld): the document must expand without the network (its @context inline) and the
expanded form must carry the DCAT terms a harvester (CKAN's ckanext-dcat) reads.

    python3 ioc-api/tests/dcat_jsonld.py catalog.jsonld
    curl -s http://127.0.0.1:8080/api/v1/open-data/catalog.jsonld | python3 ioc-api/tests/dcat_jsonld.py -

Prints one line and exits 0 when the catalogue passes; prints every problem and exits 1 otherwise,
2 when pyld is missing. Every dataset must have a dct:temporal, so every station needs data: the
test that runs it, ioc-api/tests/open_data.rs, feeds them all.
"""

import json
import sys

# Keep in step with PYLD_VERSION in scripts/test, which installs it.
PYLD_VERSION = "3.3.0"

try:
    from pyld import jsonld
except ImportError as error:
    print(
        f"pyld is not installed ({error}): python3 -m pip install pyld=={PYLD_VERSION} "
        "(scripts/test ioc_tools installs it)",
        file=sys.stderr,
    )
    sys.exit(2)

DCAT = "http://www.w3.org/ns/dcat#"
DCT = "http://purl.org/dc/terms/"
FOAF = "http://xmlns.com/foaf/0.1/"
VCARD = "http://www.w3.org/2006/vcard/ns#"
LOCN = "http://www.w3.org/ns/locn#"
GSP = "http://www.opengis.net/ont/geosparql#"
XSD = "http://www.w3.org/2001/XMLSchema#"
HOURLY = "http://publications.europa.eu/resource/authority/frequency/HOURLY"
IANA = "http://www.iana.org/assignments/media-types/"


# Relative IRIs are resolved against the document's base; this one shows where that happened,
# since the catalogue's links must be absolute (a harvester has no base to resolve them against).
RELATIVE = "http://relative.invalid/"


def offline_loader(url, options=None):
    """Refuses every fetch: a context or document by URL would need the network."""
    raise RuntimeError(f"the catalogue needs {url}; its @context must be inline")


problems = []


def check(condition, message):
    if not condition:
        problems.append(message)
    return condition


def values(node, prop):
    return node.get(prop, []) if isinstance(node, dict) else []


def ids(node, prop):
    return [v["@id"] for v in values(node, prop) if "@id" in v]


def nodes(node, prop):
    return [v for v in values(node, prop) if isinstance(v, dict) and "@value" not in v]


def absolute(iri):
    return iri.startswith(("http://", "https://", "mailto:")) and not iri.startswith(RELATIVE)


def texts_vi_en(node, prop, where):
    """A text in Vietnamese first, then in English, both non-empty."""
    found = [(v.get("@language"), v.get("@value", "")) for v in values(node, prop)]
    langs = [lang for lang, _ in found]
    check(langs[:2] == ["vi", "en"], f"{where}: {prop} has languages {langs}, not vi then en")
    check(all(text.strip() for _, text in found), f"{where}: {prop} has an empty text")


def typed(node, prop, datatype, where):
    literals = [v for v in values(node, prop) if "@value" in v]
    check(literals, f"{where}: no {prop}")
    for v in literals:
        check(v.get("@type") == datatype, f"{where}: {prop} is typed {v.get('@type')}, not {datatype}")
    return [v["@value"] for v in literals]


def one_iri(node, prop, where, prefix=""):
    found = ids(node, prop)
    check(len(found) == 1, f"{where}: {prop} should be one IRI, is {found or values(node, prop)}")
    for iri in found:
        check(absolute(iri) and iri.startswith(prefix), f"{where}: {prop} {iri!r} is not an absolute IRI under {prefix!r}")
    return found[0] if found else ""


def check_agent(node, where):
    agents = nodes(node, DCT + "publisher")
    if check(len(agents) == 1, f"{where}: one dct:publisher expected"):
        check(FOAF + "Agent" in agents[0].get("@type", []), f"{where}: the publisher is not a foaf:Agent")
        check(values(agents[0], FOAF + "name"), f"{where}: the publisher has no foaf:name")


def check_dataset(dataset):
    where = dataset.get("@id", "a dataset")
    check(absolute(where), f"{where}: the dataset's @id is not absolute")
    check(DCAT + "Dataset" in dataset.get("@type", []), f"{where}: not a dcat:Dataset")
    check(values(dataset, DCT + "identifier"), f"{where}: no dct:identifier")
    texts_vi_en(dataset, DCT + "title", where)
    texts_vi_en(dataset, DCT + "description", where)
    check(values(dataset, DCAT + "keyword"), f"{where}: no dcat:keyword")
    one_iri(dataset, DCAT + "theme", where, "http://publications.europa.eu/resource/authority/data-theme/")
    check(one_iri(dataset, DCT + "accrualPeriodicity", where) == HOURLY, f"{where}: not updated hourly")
    one_iri(dataset, DCT + "license", where)
    check_agent(dataset, where)

    contacts = nodes(dataset, DCAT + "contactPoint")
    if check(len(contacts) == 1, f"{where}: one dcat:contactPoint expected"):
        kinds = contacts[0].get("@type", [])
        check(any(t.startswith(VCARD) for t in kinds), f"{where}: the contact point is no vCard ({kinds})")
        check(values(contacts[0], VCARD + "fn"), f"{where}: the contact point has no vcard:fn")
        for email in ids(contacts[0], VCARD + "hasEmail"):
            check(email.startswith("mailto:"), f"{where}: vcard:hasEmail {email!r} is not a mailto: IRI")

    places = nodes(dataset, DCT + "spatial")
    if check(len(places) == 1, f"{where}: one dct:spatial expected"):
        place = places[0]
        check(DCT + "Location" in place.get("@type", []), f"{where}: dct:spatial is not a dct:Location")
        check(
            values(place, LOCN + "geometry") or values(place, LOCN + "geographicName"),
            f"{where}: dct:spatial has neither locn:geometry nor locn:geographicName",
        )
        for geometry in values(place, LOCN + "geometry"):
            check(geometry.get("@type") == GSP + "geoJSONLiteral", f"{where}: locn:geometry is not GeoJSON-typed")
            try:
                shape = json.loads(geometry.get("@value", ""))
                check(shape.get("type") in ("Point", "MultiPoint", "Polygon"), f"{where}: geometry {shape}")
            except ValueError:
                check(False, f"{where}: locn:geometry is not GeoJSON: {geometry!r}")
        for box in values(place, DCAT + "bbox"):
            check(box.get("@type") == GSP + "wktLiteral", f"{where}: dcat:bbox is not a WKT literal")
            check(box.get("@value", "").startswith("POLYGON(("), f"{where}: dcat:bbox {box} is no polygon")

    periods = nodes(dataset, DCT + "temporal")
    if check(len(periods) == 1, f"{where}: one dct:temporal expected"):
        check(DCT + "PeriodOfTime" in periods[0].get("@type", []), f"{where}: dct:temporal is no dct:PeriodOfTime")
        typed(periods[0], DCAT + "startDate", XSD + "dateTime", where)

    distributions = nodes(dataset, DCAT + "distribution")
    check(len(distributions) >= 2, f"{where}: {len(distributions)} distributions, CSV and JSON expected")
    formats = set()
    for d in distributions:
        at = d.get("@id", f"{where} distribution")
        check(DCAT + "Distribution" in d.get("@type", []), f"{at}: not a dcat:Distribution")
        access = one_iri(d, DCAT + "accessURL", at)
        download = one_iri(d, DCAT + "downloadURL", at)
        check(access == download, f"{at}: accessURL and downloadURL differ")
        formats.add(one_iri(d, DCAT + "mediaType", at, IANA))
        one_iri(d, DCT + "format", at, "http://publications.europa.eu/resource/authority/file-type/")
        one_iri(d, DCT + "license", at)
    check({IANA + "text/csv", IANA + "application/json"} <= formats, f"{where}: media types {formats}")
    return len(distributions)


def main():
    if len(sys.argv) != 2:
        sys.exit(f"usage: {sys.argv[0]} CATALOG.jsonld|-")
    source = sys.stdin if sys.argv[1] == "-" else open(sys.argv[1], encoding="utf-8")
    with source:
        document = json.load(source)
    options = {"documentLoader": offline_loader, "base": RELATIVE}
    try:
        expanded = jsonld.expand(document, options)
        triples = jsonld.to_rdf(document, {**options, "format": "application/n-quads"}).count("\n")
    except Exception as error:  # pyld raises JsonLdError; anything else is as fatal here
        sys.exit(f"not valid JSON-LD: {error}")

    catalogs = [n for n in expanded if DCAT + "Catalog" in n.get("@type", [])]
    if not check(len(catalogs) == 1, f"{len(catalogs)} dcat:Catalog nodes at the top, one expected"):
        catalogs = [{}]
    catalog = catalogs[0]
    where = catalog.get("@id", "the catalogue")
    check(absolute(where), f"{where}: the catalogue's @id is not absolute")
    texts_vi_en(catalog, DCT + "title", where)
    texts_vi_en(catalog, DCT + "description", where)
    check_agent(catalog, where)
    one_iri(catalog, DCT + "license", where)
    one_iri(catalog, FOAF + "homepage", where)
    typed(catalog, DCT + "modified", XSD + "dateTime", where)

    datasets = nodes(catalog, DCAT + "dataset")
    check(datasets, f"{where}: no dcat:dataset")
    distributions = sum(check_dataset(d) for d in datasets)
    identifiers = [d.get("@id") for d in datasets]
    check(len(set(identifiers)) == len(identifiers), f"datasets share an @id: {identifiers}")

    if problems:
        print("\n".join(problems), file=sys.stderr)
        sys.exit(1)
    print(f"dcat_jsonld: {len(datasets)} datasets, {distributions} distributions, {triples} RDF triples: valid")


if __name__ == "__main__":
    main()
