"""A harvest becomes training studies: the newest signings are held out for the gate, labels come
from the signed report and the drawn annotations, and no study uid leaves in the provenance."""

from __future__ import annotations

import json
import sqlite3

import pytest

from ml.site import SiteDataError, site_data, uid_digest
from ml.store import Store, StoreError, harvest
from ml.train import synthetic


@pytest.fixture
def cases(tmp_path):
    return synthetic.make_studies(tmp_path / "images", n=8, size=32)


def test_the_newest_signings_are_held_out_and_never_train(uid, cases, make_site):
    data = site_data(harvest([make_site(cases)]), holdout=3)
    uids = [uid(i) for i in range(8)]
    assert data.train_uids == uids[:5] and data.holdout_uids == uids[5:]
    assert {s.split for s in data.train} == {"train"} and {s.split for s in data.holdout} == {"test"}
    assert not {s.id for s in data.train} & {s.id for s in data.holdout}


def test_labels_are_the_signed_report_read_by_the_labeler_and_the_drawn_findings(uid, cases, make_site, tmp_path):
    with Store(make_site(cases)) as store:
        store.add_annotation(uid(0), cases[1].findings[0], reader="dr-b")  # drawn on a normal film
    data = site_data(harvest([tmp_path / "ws1.sqlite"]), holdout=1)
    first, effusion = data.train[0], data.train[3]
    assert first.labels["Cardiomegaly"] == 1 and first.labels.get("No Finding") != 1
    assert cases[3].report.findings == "There is a small left pleural effusion."
    assert effusion.labels["Pleural Effusion"] == 1 and effusion.report.findings == cases[3].report.findings
    assert [f.label for f in effusion.findings] == ["Pleural Effusion"]
    assert [sp.reader for sp in effusion.scanpaths] == ["r0", "r1"]
    assert effusion.scanpaths[0].image_size == (32, 32)


def test_provenance_holds_hashes_and_counts_never_a_uid(cases, make_site):
    data = site_data(harvest([make_site(cases)]), holdout=2)
    prov = data.provenance()
    assert prov["study_uids_sha256"] == uid_digest(data.train_uids)
    assert prov["studies"] == 6 and prov["holdout"] == 2 and prov["sessions"] == 12
    want = {}
    for case in cases[:6]:
        for label, value in case.labels.items():
            want[label] = want.get(label, 0) + (value == 1)
    assert prov["positives_per_observation"] == want
    assert "1.2.826" not in json.dumps(prov) and not any("1.2.826" in s.id for s in data.studies)


def test_a_resumed_refresh_trains_on_the_studies_it_started_with(cases, make_site):
    first = site_data(harvest([make_site(cases[:6])]), holdout=2)
    grown = harvest([make_site(cases, name="later.sqlite")])  # two more signed since
    again = site_data(grown, holdout=2, keep=first.selection())
    assert again.selection() == first.selection()


def test_a_resumed_refresh_whose_studies_are_gone_says_to_start_again(cases, make_site):
    first = site_data(harvest([make_site(cases)]), holdout=2)
    smaller = harvest([make_site(cases[:4], name="smaller.sqlite")])
    with pytest.raises(SiteDataError, match="can no longer be harvested.*start a new refresh"):
        site_data(smaller, holdout=2, keep=first.selection())


def test_an_empty_store_says_so(make_site):
    with pytest.raises(SiteDataError, match="holds no studies"):
        site_data(harvest([make_site([])]), holdout=2)


def test_a_store_without_signed_reports_says_only_signed_reports_train(cases, make_site):
    with pytest.raises(SiteDataError, match="no study in the store has a signed report"):
        site_data(harvest([make_site(cases, signed=False)]), holdout=2)


def test_moved_images_are_named_as_the_reason(cases, make_site, tmp_path):
    db = make_site(cases)
    (tmp_path / "images").rename(tmp_path / "elsewhere")
    with pytest.raises(SiteDataError, match="8 images are not where their study says"):
        site_data(harvest([db]), holdout=2)


def test_too_few_signed_studies_for_the_gate_say_how_many_are_needed(cases, make_site):
    with pytest.raises(SiteDataError, match="3 usable signed studies, but a refresh needs 5 held out"):
        site_data(harvest([make_site(cases[:3])]), holdout=5)


def test_a_database_from_a_newer_version_is_refused(cases, make_site):
    db = make_site(cases)
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    with pytest.raises(StoreError, match="newer Gaze2Report"):
        harvest([db])


def test_a_simulated_broken_site_signs_other_studies_reports_but_keeps_the_gate_slice_true(cases, tmp_path):
    from ml.site.simulate import simulate_site
    from ml.store import Store

    db = tmp_path / "broken.sqlite"
    uids = simulate_site(cases, db, shuffle_reports=True, keep_newest=2, seed=3)
    with Store(db) as store:
        signed = [store.signed_report(u).text for u in uids]
    own = [c.report.text for c in cases]
    assert signed[-2:] == own[-2:] and signed[:-2] != own[:-2] and sorted(signed) == sorted(own)


def test_what_arrived_since_a_bundle_was_made_counts_later_signings_and_their_gaze(cases, make_site):
    from ml.site import arrived_since

    got = harvest([make_site(cases)])
    cut = got.studies[5].signed_at
    assert arrived_since(got, "2000-01-01T00:00:00Z") == (8, 16)
    assert arrived_since(got, "2999-01-01T00:00:00Z") == (0, 0)
    later = [h for h in got.studies if h.signed_at[:19] > cut[:19]]
    assert arrived_since(got, cut) == (len(later), 2 * len(later))
