"""The case material on the pages: the referrer's picker offers the patient's resulted lab orders and imaging
studies; once attached, the experts see the lab values (abnormal ones flagged) and previews of the DICOM images,
served through the consultation (they have no access to the chart itself). Other people's attachments: 404."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from ihospital.diagnostics import dicom_storage
from ihospital.diagnostics.models import (
    DiagnosticKind,
    DicomInstance,
    ImagingStudy,
    Modality,
    Observation,
    OrderStatus,
    Specimen,
)
from ihospital.teleconsult import requests as consult_requests
from ihospital.teleconsult import triage
from tests.diagnostics import dicomgen
from tests.diagnostics import factories as dx
from tests.factories import PractitionerFactory
from tests.teleconsult import factories as f
from tests.teleconsult.pages import client_for
from tests.visits.factories import EncounterFactory

pytestmark = pytest.mark.django_db



@pytest.fixture
def chart(patient, settings, tmp_path):
    settings.IHOSPITAL_VAR_DIR = str(tmp_path)
    doctor = PractitionerFactory()
    encounter = EncounterFactory(patient=patient, practitioner=doctor)
    test = dx.DiagnosticTestFactory(code="tnl", name_en="Troponin I", kind=DiagnosticKind.LAB)
    analyte = dx.AnalyteFactory(test=test, code="ctni", unit="ng/mL", name_en="cTnI", position=0)
    lab = dx.DiagnosticOrderFactory(patient=patient, doctor=doctor, test=test, status=OrderStatus.RELEASED,
                                   encounter=encounter)
    Observation.objects.create(order=lab, analyte=analyte, value=Decimal("0.5"), unit="ng/mL", flag="H",
                               reference="<0.04", observed_at=timezone.now(), entered_by=doctor.user)
    ct_test = dx.DiagnosticTestFactory(code="ct_chest", name_en="CT chest", kind=DiagnosticKind.IMAGING,
                                       modality=Modality.CT, specimen=Specimen.NONE)
    ct = dx.DiagnosticOrderFactory(patient=patient, doctor=doctor, test=ct_test, status=OrderStatus.RESULTED,
                                  encounter=encounter)
    study = ImagingStudy.objects.create(order=ct, study_uid="1.2.826.0.1.3680043.8.498.77", modality="CT",
                                        findings="No pulmonary embolism.", impression="Normal CT")
    data = dicomgen.to_bytes(dicomgen.ct())
    storage_name, sha = dicom_storage.save(data)
    instance = DicomInstance.objects.create(study=study, sop_instance_uid="1.2.3.4.5", series_uid="1.2.3",
                                            instance_number=1, storage_name=storage_name, sha256=sha, rows=4,
                                            columns=256, uploaded_by=doctor.user)
    return {"lab": lab, "study": study, "instance": instance}


def test_lab_values_and_images_reach_the_expert(patient, referrer, cardiology, expert, coordinator, chart):
    consult = f.draft_request(patient=patient, referrer=referrer, department=cardiology)
    client = client_for(referrer)
    page = reverse("teleconsult:request", args=[consult.pk])
    shown = client.get(page).content.decode()
    assert f'data-testid="attach-lab" data-id="{chart["lab"].pk}"' in shown
    assert f'data-testid="attach-imaging" data-id="{chart["study"].pk}"' in shown
    assert client.post(reverse("teleconsult:attach", args=[consult.pk]),
                       {"kind": "lab", "target_id": chart["lab"].pk}).status_code == 302
    assert client.post(reverse("teleconsult:attach", args=[consult.pk]),
                       {"kind": "imaging", "target_id": chart["study"].pk, "note": "see slice 1"}).status_code == 302
    again = client.post(reverse("teleconsult:attach", args=[consult.pk]), {"kind": "lab", "target_id": chart["lab"].pk})
    assert again.status_code == 409 and 'data-code="already_attached"' in again.content.decode()
    f.consented(consult)
    f.tariffs_for(consult.referring_facility)
    consult_requests.submit(actor=referrer, request_id=consult.pk)
    triage.assign(actor=coordinator, request_id=consult.pk, expert_id=expert.pk, role="lead")

    expert_client = client_for(expert)
    shown = expert_client.get(page).content.decode()
    assert 'data-testid="lab-values"' in shown and "cTnI" in shown and "0.5" in shown and "tc-abnormal" in shown
    assert "No pulmonary embolism." in shown and "see slice 1" in shown
    attachment = consult.attachments.get(kind="imaging")
    url = reverse("teleconsult:attachment_preview", args=[attachment.pk, chart["instance"].pk])
    assert url in shown
    png = expert_client.get(url)
    assert png.status_code == 200 and png["Content-Type"] == "image/png" and png.content[:8] == b"\x89PNG\r\n\x1a\n"
    assert expert_client.get(url + "?wl=-600,1500").status_code == 200
    assert expert_client.get(url + "?wl=lung-ish").status_code == 400
    # Not through diagnostics' own viewer: the expert is not entitled to the order.
    assert expert_client.get(reverse("diagnostics:preview", args=[chart["instance"].pk])).status_code == 404
    # Another expert, and an image id of another study through this attachment: 404.
    other = f.ExpertFactory(departments=[cardiology]).user
    assert client_for(other).get(url).status_code == 404
    lab_attachment = consult.attachments.get(kind="lab")
    wrong = reverse("teleconsult:attachment_preview", args=[lab_attachment.pk, chart["instance"].pk])
    assert expert_client.get(wrong).status_code == 404
