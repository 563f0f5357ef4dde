from tests.api.conftest import feedback_event
def test_probe(client_for, case):
    r = client_for("traeger.caritas").write(f"/api/v1/referrals/{case}/events", feedback_event())
    print(r.status_code, r.json())
    r = client_for("ifk.aachen").get(f"/api/v1/referrals/{case}")
    import json; print(json.dumps(r.json(), indent=1, ensure_ascii=False))
    assert 0
